package weights

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// This file reads Python pickles, the format torch.save uses for the object
// tree of a checkpoint. A pickle is a program for a small stack machine; the
// only dangerous instruction is calling a "global" (any Python function or
// class, os.system included). This reader never calls anything: it knows a
// short allow-list of globals, interprets the few that build tensors itself,
// keeps the harmless ones as opaque objects, and refuses every other global
// by name the moment the pickle mentions it.
//
// Values of the machine are Go values:
//
//	None → nil, bool, int64, float64, string, []byte,
//	tuple → pyTuple, list → *pyList, dict → *pyDict,
//	a global → pyGlobal, a persistent id (a storage) → *storageRef,
//	a rebuilt tensor → *tensorRef, anything else allowed → *pyObject.

type (
	pyTuple []any
	pyList  struct{ items []any }
	// pyDict keeps insertion order, as Python's dict does.
	pyDict struct {
		keys, vals []any
		index      map[any]int // for keys Go can compare
	}
	pyGlobal struct{ module, name string }
	// pyObject is an instance of an allowed class the reader does not
	// interpret (a Lightning callback, a NumPy scalar): kept, never built.
	pyObject struct {
		class pyGlobal
		args  any
		state any
	}
)

func (g pyGlobal) String() string { return g.module + "." + g.name }

func newDict() *pyDict { return &pyDict{index: map[any]int{}} }

func hashable(k any) bool {
	switch k.(type) {
	case nil, bool, int64, float64, string, pyGlobal:
		return true
	}
	return false
}

func (d *pyDict) set(k, v any) {
	if hashable(k) {
		if i, ok := d.index[k]; ok {
			d.vals[i] = v
			return
		}
		d.index[k] = len(d.keys)
	}
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
}

func (d *pyDict) get(k string) (any, bool) {
	i, ok := d.index[k]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// globalKind says what the reader does with an allowed global.
type globalKind int

const (
	gOpaque        globalKind = iota // calling it gives a *pyObject
	gRebuildTensor                   // torch._utils._rebuild_tensor(_v2)
	gRebuildParam                    // torch._utils._rebuild_parameter(_with_state)
	gOrderedDict                     // collections.OrderedDict
	gStorage                         // a typed storage class: names a dtype
	gSize                            // torch.Size(tuple) is the tuple
	gCodecsEncode                    // _codecs.encode(str, "latin1"): bytes in protocol 2
)

type allowed struct {
	kind  globalKind
	dtype DType // for gStorage
}

// allowedGlobals is the allow-list. Besides the tensor builders and storage
// types it holds classes known to appear in Stable Diffusion checkpoints
// outside the state dict (PyTorch Lightning's ModelCheckpoint is a dict key
// under "callbacks" in sd-v1-4.ckpt; NumPy scalars hold its best score).
// They become opaque values: never constructed, and never tensors.
var allowedGlobals = map[string]allowed{
	"torch._utils._rebuild_tensor":               {kind: gRebuildTensor},
	"torch._utils._rebuild_tensor_v2":            {kind: gRebuildTensor},
	"torch._utils._rebuild_parameter":            {kind: gRebuildParam},
	"torch._utils._rebuild_parameter_with_state": {kind: gRebuildParam},
	"collections.OrderedDict":                    {kind: gOrderedDict},
	"torch.Size":                                 {kind: gSize},
	"_codecs.encode":                             {kind: gCodecsEncode},

	"torch.FloatStorage":    {kind: gStorage, dtype: F32},
	"torch.HalfStorage":     {kind: gStorage, dtype: F16},
	"torch.BFloat16Storage": {kind: gStorage, dtype: BF16},
	"torch.DoubleStorage":   {kind: gStorage, dtype: F64},
	"torch.LongStorage":     {kind: gStorage, dtype: I64},
	"torch.IntStorage":      {kind: gStorage, dtype: I32},
	"torch.ShortStorage":    {kind: gStorage, dtype: I16},
	"torch.CharStorage":     {kind: gStorage, dtype: I8},
	"torch.ByteStorage":     {kind: gStorage, dtype: U8},
	"torch.BoolStorage":     {kind: gStorage, dtype: Bool},

	// Opaque: kept as values, never built.
	"torch.device":   {kind: gOpaque},
	"torch.float16":  {kind: gOpaque},
	"torch.float32":  {kind: gOpaque},
	"torch.bfloat16": {kind: gOpaque},
	"torch._utils._rebuild_device_tensor_from_numpy":               {kind: gOpaque},
	"pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint": {kind: gOpaque},
	"numpy.core.multiarray.scalar":                                 {kind: gOpaque},
	"numpy.core.multiarray._reconstruct":                           {kind: gOpaque},
	"numpy._core.multiarray.scalar":                                {kind: gOpaque},
	"numpy._core.multiarray._reconstruct":                          {kind: gOpaque},
	"numpy.dtype":                                                  {kind: gOpaque},
	"numpy.ndarray":                                                {kind: gOpaque},
	"builtins.set":                                                 {kind: gOpaque},
	"__builtin__.set":                                              {kind: gOpaque},
}

// storageRef is a persistent id of torch.save: ("storage", type, key,
// location, numel). The bytes are the zip record data/<key>.
type storageRef struct {
	dtype DType
	key   string
	numel int64
}

// tensorRef is a tensor rebuilt from a storage: element i of the (row-major
// flattened) tensor is storage[offset + Σ index_d·stride[d]].
type tensorRef struct {
	storage *storageRef
	offset  int64
	size    []int
	stride  []int64
}

// errPickle marks malformed pickles; errors wrap it with the detail.
var errPickle = errors.New("bad pickle")

// unpickle runs the pickle program p and returns the value it stops with.
// Work is linear in len(p): every opcode consumes at least one byte and no
// opcode copies more values than the pickle itself pushed.
func unpickle(p []byte) (any, error) {
	u := unpickler{p: p, memo: map[uint32]any{}}
	v, err := u.run()
	if err != nil {
		return nil, fmt.Errorf("%w at byte %d: %w", errPickle, u.pos, err)
	}
	return v, nil
}

type unpickler struct {
	p     []byte
	pos   int
	stack []any
	marks []int
	memo  map[uint32]any
}

func (u *unpickler) read(n int) ([]byte, error) {
	if n < 0 || n > len(u.p)-u.pos {
		return nil, fmt.Errorf("%d bytes wanted, %d left", n, len(u.p)-u.pos)
	}
	b := u.p[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

// readUint reads a little-endian unsigned integer of size bytes (1, 2, 4 or 8).
func (u *unpickler) readUint(size int) (uint64, error) {
	b, err := u.read(size)
	if err != nil {
		return 0, err
	}
	switch size {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.LittleEndian.Uint16(b)), nil
	case 4:
		return uint64(binary.LittleEndian.Uint32(b)), nil
	}
	return binary.LittleEndian.Uint64(b), nil
}

// readCounted reads a little-endian length of size bytes (1, 4 or 8), then
// that many bytes: the argument of the string, bytes and LONG opcodes.
func (u *unpickler) readCounted(size int) ([]byte, error) {
	n, err := u.readUint(size)
	if err != nil {
		return nil, err
	}
	if n > uint64(len(u.p)) {
		return nil, fmt.Errorf("length %d exceeds the pickle", n)
	}
	return u.read(int(n))
}

// argSize is the width in bytes of the little-endian integer that follows
// op: the value of BININT1 and BININT2, the memo index of BINPUT, BINGET and
// their LONG_ forms, or the length of the argument of the string, bytes and
// LONG opcodes.
func argSize(op byte) int {
	switch op {
	case opBinInt1, opBinPut, opBinGet, opLong1, opShortBinUni, opShortBinString, opShortBinBytes:
		return 1
	case opBinInt2:
		return 2
	case opBinUnicode8, opBinBytes8:
		return 8
	}
	return 4 // BININT, LONG_BINPUT, LONG_BINGET, LONG4, BINUNICODE, BINSTRING, BINBYTES
}

func (u *unpickler) readLine() (string, error) {
	i := bytes.IndexByte(u.p[u.pos:], '\n')
	if i < 0 {
		return "", errors.New("unterminated line")
	}
	s := string(u.p[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	n := len(u.stack)
	if n == 0 || (len(u.marks) > 0 && n <= u.marks[len(u.marks)-1]) {
		return nil, errors.New("stack underflow")
	}
	v := u.stack[n-1]
	u.stack = u.stack[:n-1]
	return v, nil
}

func (u *unpickler) top() (*any, error) {
	n := len(u.stack)
	if n == 0 || (len(u.marks) > 0 && n <= u.marks[len(u.marks)-1]) {
		return nil, errors.New("stack underflow")
	}
	return &u.stack[n-1], nil
}

// pop2 pops the top two values: top was pushed last.
func (u *unpickler) pop2() (below, top any, err error) {
	if top, err = u.pop(); err != nil {
		return nil, nil, err
	}
	if below, err = u.pop(); err != nil {
		return nil, nil, err
	}
	return below, top, nil
}

// popMark pops everything above the last MARK.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, errors.New("no MARK")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

// Opcodes of pickle protocols 0–5 that torch.save and NumPy emit.
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opBinInt2        = 'M'
	opNone           = 'N'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opBinString      = 'T'
	opShortBinString = 'U'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opBinGet         = 'h'
	opLongBinGet     = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	opProto          = 0x80
	opNewObj         = 0x81
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opLong4          = 0x8b
	opShortBinUni    = 0x8c
	opBinUnicode8    = 0x8d
	opBinBytes8      = 0x8e
	opEmptySet       = 0x8f
	opAddItems       = 0x90
	opFrozenSet      = 0x91
	opNewObjEx       = 0x92
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
)

func (u *unpickler) run() (any, error) {
	for {
		if u.pos >= len(u.p) {
			return nil, errors.New("no STOP opcode")
		}
		op := u.p[u.pos]
		u.pos++
		switch op {
		case opProto:
			if _, err := u.read(1); err != nil {
				return nil, err
			}
		case opFrame:
			if _, err := u.read(8); err != nil {
				return nil, err
			}
		case opStop:
			v, err := u.pop()
			if err != nil {
				return nil, err
			}
			return v, nil
		case opMark:
			u.marks = append(u.marks, len(u.stack))
		case opPop:
			if _, err := u.pop(); err != nil {
				return nil, err
			}
		case opPopMark:
			if _, err := u.popMark(); err != nil {
				return nil, err
			}
		case opDup:
			t, err := u.top()
			if err != nil {
				return nil, err
			}
			u.push(*t)
		case opNone:
			u.push(nil)
		case opNewTrue:
			u.push(true)
		case opNewFalse:
			u.push(false)
		case opBinInt:
			v, err := u.readUint(argSize(op))
			if err != nil {
				return nil, err
			}
			u.push(int64(int32(v))) // signed
		case opBinInt1, opBinInt2:
			v, err := u.readUint(argSize(op))
			if err != nil {
				return nil, err
			}
			u.push(int64(v))
		case opLong1, opLong4:
			b, err := u.readCounted(argSize(op))
			if err != nil {
				return nil, err
			}
			v, err := decodeLong(b)
			if err != nil {
				return nil, err
			}
			u.push(v)
		case opBinFloat:
			b, err := u.read(8)
			if err != nil {
				return nil, err
			}
			u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
		case opBinUnicode, opShortBinUni, opBinUnicode8, opBinString, opShortBinString:
			b, err := u.readCounted(argSize(op))
			if err != nil {
				return nil, err
			}
			u.push(string(b))
		case opBinBytes, opShortBinBytes, opBinBytes8:
			b, err := u.readCounted(argSize(op))
			if err != nil {
				return nil, err
			}
			u.push(append([]byte(nil), b...))
		case opEmptyDict:
			u.push(newDict())
		case opEmptyList:
			u.push(&pyList{})
		case opEmptyTuple:
			u.push(pyTuple{})
		case opEmptySet:
			u.push(&pyList{}) // a set is kept as a list of its items
		case opTuple, opList, opDict, opFrozenSet:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			switch op {
			case opTuple:
				u.push(pyTuple(items))
			case opList, opFrozenSet:
				u.push(&pyList{items: items})
			case opDict:
				if len(items)%2 != 0 {
					return nil, errors.New("DICT with an odd number of items")
				}
				d := newDict()
				for i := 0; i < len(items); i += 2 {
					if err := checkKey(items[i]); err != nil {
						return nil, err
					}
					d.set(items[i], items[i+1])
				}
				u.push(d)
			}
		case opTuple1, opTuple2, opTuple3:
			n := int(op-opTuple1) + 1
			t := make(pyTuple, n)
			for i := n - 1; i >= 0; i-- {
				v, err := u.pop()
				if err != nil {
					return nil, err
				}
				t[i] = v
			}
			u.push(t)
		case opBinPut, opLongBinPut:
			k, err := u.readUint(argSize(op))
			if err != nil {
				return nil, err
			}
			t, err := u.top()
			if err != nil {
				return nil, err
			}
			u.memo[uint32(k)] = *t
		case opMemoize:
			t, err := u.top()
			if err != nil {
				return nil, err
			}
			u.memo[uint32(len(u.memo))] = *t
		case opBinGet, opLongBinGet:
			k, err := u.readUint(argSize(op))
			if err != nil {
				return nil, err
			}
			v, ok := u.memo[uint32(k)]
			if !ok {
				return nil, fmt.Errorf("memo %d not defined", k)
			}
			u.push(v)
		case opGlobal:
			mod, err := u.readLine()
			if err != nil {
				return nil, err
			}
			name, err := u.readLine()
			if err != nil {
				return nil, err
			}
			g, err := global(mod, name)
			if err != nil {
				return nil, err
			}
			u.push(g)
		case opStackGlobal:
			mod, name, err := u.pop2()
			if err != nil {
				return nil, err
			}
			ms, ok1 := mod.(string)
			ns, ok2 := name.(string)
			if !ok1 || !ok2 {
				return nil, errors.New("STACK_GLOBAL of non-strings")
			}
			g, err := global(ms, ns)
			if err != nil {
				return nil, err
			}
			u.push(g)
		case opBinPersID:
			pid, err := u.pop()
			if err != nil {
				return nil, err
			}
			s, err := persistentStorage(pid)
			if err != nil {
				return nil, err
			}
			u.push(s)
		case opReduce, opNewObj:
			fn, args, err := u.pop2()
			if err != nil {
				return nil, err
			}
			t, ok := args.(pyTuple)
			if !ok {
				return nil, fmt.Errorf("call with %T arguments", args)
			}
			v, err := call(fn, t)
			if err != nil {
				return nil, err
			}
			u.push(v)
		case opNewObjEx:
			if _, err := u.pop(); err != nil { // kwargs
				return nil, err
			}
			cls, args, err := u.pop2()
			if err != nil {
				return nil, err
			}
			g, ok := cls.(pyGlobal)
			if !ok {
				return nil, fmt.Errorf("NEWOBJ_EX of %T", cls)
			}
			u.push(&pyObject{class: g, args: args})
		case opBuild:
			state, err := u.pop()
			if err != nil {
				return nil, err
			}
			t, err := u.top()
			if err != nil {
				return nil, err
			}
			switch o := (*t).(type) {
			case *pyObject:
				o.state = state
			case *pyDict, *tensorRef:
				// An OrderedDict's state (its _metadata) and a tensor's
				// (requires_grad and hooks) do not concern the weights.
			default:
				return nil, fmt.Errorf("BUILD on %T", *t)
			}
		case opAppend:
			v, err := u.pop()
			if err != nil {
				return nil, err
			}
			if err := u.appendTo([]any{v}); err != nil {
				return nil, err
			}
		case opAppends, opAddItems:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			if err := u.appendTo(items); err != nil {
				return nil, err
			}
		case opSetItem:
			k, v, err := u.pop2()
			if err != nil {
				return nil, err
			}
			if err := u.setItems([]any{k, v}); err != nil {
				return nil, err
			}
		case opSetItems:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			if len(items)%2 != 0 {
				return nil, errors.New("SETITEMS with an odd number of items")
			}
			if err := u.setItems(items); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unsupported opcode 0x%02x", op)
		}
	}
}

func (u *unpickler) appendTo(items []any) error {
	t, err := u.top()
	if err != nil {
		return err
	}
	l, ok := (*t).(*pyList)
	if !ok {
		return fmt.Errorf("APPEND to %T", *t)
	}
	l.items = append(l.items, items...)
	return nil
}

func (u *unpickler) setItems(items []any) error {
	t, err := u.top()
	if err != nil {
		return err
	}
	d, ok := (*t).(*pyDict)
	if !ok {
		return fmt.Errorf("SETITEM on %T", *t)
	}
	for i := 0; i < len(items); i += 2 {
		if err := checkKey(items[i]); err != nil {
			return err
		}
		d.set(items[i], items[i+1])
	}
	return nil
}

// checkKey refuses dict keys Python could not hash either.
func checkKey(k any) error {
	switch k.(type) {
	case *pyList, *pyDict:
		return fmt.Errorf("unhashable dict key %T", k)
	}
	return nil
}

// decodeLong reads a little-endian two's-complement integer (LONG1/LONG4).
func decodeLong(b []byte) (any, error) {
	if len(b) == 0 {
		return int64(0), nil
	}
	if len(b) > 8 {
		// Larger integers do not occur in checkpoints' tensor metadata;
		// keep them opaque rather than fail a whole file.
		return &pyObject{class: pyGlobal{"builtins", "int"}}, nil
	}
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	if b[len(b)-1]&0x80 != 0 && len(b) < 8 {
		v |= ^uint64(0) << (8 * uint(len(b)))
	}
	return int64(v), nil
}

// notAllowedError names a global the allow-list does not hold.
type notAllowedError struct{ g pyGlobal }

func (e *notAllowedError) Error() string {
	return fmt.Sprintf("pickle global %q is not allowed", e.g.String())
}

func global(mod, name string) (pyGlobal, error) {
	g := pyGlobal{mod, name}
	if _, ok := allowedGlobals[g.String()]; !ok {
		return g, &notAllowedError{g}
	}
	return g, nil
}

// persistentStorage decodes torch.save's persistent id of a storage.
func persistentStorage(pid any) (*storageRef, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) != 5 {
		return nil, fmt.Errorf("persistent id %T is not a 5-tuple", pid)
	}
	if s, _ := t[0].(string); s != "storage" {
		return nil, fmt.Errorf("persistent id of kind %v, want \"storage\"", t[0])
	}
	g, ok := t[1].(pyGlobal)
	a := allowedGlobals[g.String()]
	if !ok || a.kind != gStorage {
		return nil, fmt.Errorf("persistent id with storage type %v", t[1])
	}
	key, ok1 := t[2].(string)
	numel, ok2 := t[4].(int64)
	if !ok1 || !ok2 || numel < 0 {
		return nil, errors.New("persistent id with a bad key or size")
	}
	return &storageRef{dtype: a.dtype, key: key, numel: numel}, nil
}

// call applies an allowed global to args, interpreting the tensor builders.
func call(fn any, args pyTuple) (any, error) {
	g, ok := fn.(pyGlobal)
	if !ok {
		return nil, fmt.Errorf("call of a %T", fn)
	}
	switch allowedGlobals[g.String()].kind {
	case gRebuildTensor:
		return rebuildTensor(args)
	case gRebuildParam:
		if len(args) < 1 {
			return nil, errors.New("_rebuild_parameter without data")
		}
		if _, ok := args[0].(*tensorRef); !ok {
			return nil, fmt.Errorf("_rebuild_parameter of %T", args[0])
		}
		return args[0], nil
	case gOrderedDict:
		d := newDict()
		if len(args) == 1 {
			l, ok := args[0].(*pyList)
			if !ok {
				return nil, fmt.Errorf("OrderedDict of %T", args[0])
			}
			for _, it := range l.items {
				kv, ok := it.(pyTuple)
				if !ok || len(kv) != 2 || checkKey(kv[0]) != nil {
					return nil, errors.New("OrderedDict item is not a (key, value) pair")
				}
				d.set(kv[0], kv[1])
			}
		} else if len(args) > 1 {
			return nil, errors.New("OrderedDict with several arguments")
		}
		return d, nil
	case gSize:
		if len(args) != 1 {
			return nil, errors.New("torch.Size with several arguments")
		}
		return args[0], nil
	case gCodecsEncode:
		if len(args) < 1 {
			return nil, errors.New("_codecs.encode without arguments")
		}
		s, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("_codecs.encode of %T", args[0])
		}
		// latin-1: one byte per code point below 256.
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 255 {
				return nil, errors.New("_codecs.encode: not latin-1")
			}
			b = append(b, byte(r))
		}
		return b, nil
	case gStorage:
		return nil, fmt.Errorf("call of storage type %s", g)
	}
	return &pyObject{class: g, args: args}, nil
}

// rebuildTensor interprets _rebuild_tensor_v2(storage, storage_offset, size,
// stride, requires_grad, backward_hooks[, metadata]) and its older form
// _rebuild_tensor(storage, storage_offset, size, stride).
func rebuildTensor(args pyTuple) (*tensorRef, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor with %d arguments", len(args))
	}
	s, ok := args[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor of %T, want a storage", args[0])
	}
	off, ok := args[1].(int64)
	if !ok || off < 0 {
		return nil, errors.New("_rebuild_tensor: bad storage offset")
	}
	size, ok1 := args[2].(pyTuple)
	stride, ok2 := args[3].(pyTuple)
	if !ok1 || !ok2 || len(size) != len(stride) {
		return nil, errors.New("_rebuild_tensor: size and stride are not tuples of one length")
	}
	t := &tensorRef{storage: s, offset: off, size: make([]int, len(size)), stride: make([]int64, len(size))}
	numel := int64(1)
	for i := range size {
		d, ok1 := size[i].(int64)
		st, ok2 := stride[i].(int64)
		if !ok1 || !ok2 || d < 0 || st < 0 || d > math.MaxInt32 || st > math.MaxInt32 {
			return nil, fmt.Errorf("_rebuild_tensor: bad size %v or stride %v", size, stride)
		}
		if d > 0 && numel > math.MaxInt64/4/d {
			return nil, fmt.Errorf("_rebuild_tensor: size %v too large", size)
		}
		numel *= d
		t.size[i], t.stride[i] = int(d), st
	}
	return t, nil
}
