package weights

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/sdgo/sdgo/nn"
)

// Ckpt is an open PyTorch checkpoint (.ckpt, .pt, .pth, .bin) in the zip
// format torch.save has written since PyTorch 1.6:
//
//	archive/data.pkl     the object tree, a pickle (usually protocol 2)
//	archive/byteorder    "little" (absent in older files: little)
//	archive/data/<key>   the raw bytes of each storage
//
// ("archive" is the folder name torch chose; any single folder works.)
// The pickle is read by an interpreter that calls nothing: tensors are
// rebuilt from their (storage, offset, size, stride) records and every
// Python global outside a short allow-list is an error that names it.
// Known harmless classes found beside the weights, such as PyTorch
// Lightning's ModelCheckpoint callback, are kept as opaque values.
//
// The tensors are those of the state dict: the top-level dict, or its
// "state_dict" entry when it has one (Lightning checkpoints). A Ckpt is safe
// for concurrent reads.
type Ckpt struct {
	path    string
	unmap   func() error
	buf     []byte
	tensors map[string]*ckptTensor
	names   []string
}

type ckptTensor struct {
	info Info
	ref  *tensorRef
	rec  *zip.File
	raw  []byte // the storage bytes when the record is stored uncompressed
}

// maxPickle bounds the size of data.pkl (SD checkpoints carry a few MB).
const maxPickle = 1 << 30

// OpenCkpt opens a PyTorch zip checkpoint. Its file is memory-mapped where
// the system allows it; tensors are read on access.
func OpenCkpt(path string) (*Ckpt, error) {
	buf, unmap, err := mapFile(path)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	c, err := parseCkpt(path, buf)
	if err != nil {
		unmap()
		return nil, err
	}
	c.unmap = unmap
	return c, nil
}

// ParseCkpt reads a PyTorch zip checkpoint already in memory; name is used
// in errors. The returned Ckpt refers to buf.
func ParseCkpt(name string, buf []byte) (*Ckpt, error) { return parseCkpt(name, buf) }

func parseCkpt(path string, buf []byte) (*Ckpt, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("weights: %s: %s", path, fmt.Sprintf(format, a...))
	}
	if len(buf) > 0 && buf[0] == opProto {
		return nil, bad("legacy (pre-1.6, non-zip) PyTorch format is not supported; re-save it with torch.save or convert it to safetensors")
	}
	zr, err := zip.NewReader(bytes.NewReader(buf), int64(len(buf)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, bad("not a PyTorch zip checkpoint: %v", err)
	}
	records := map[string]*zip.File{}
	var pkl *zip.File
	prefix := ""
	for _, f := range zr.File {
		records[f.Name] = f
		if dir, ok := strings.CutSuffix(f.Name, "data.pkl"); ok && pkl == nil && strings.Count(dir, "/") <= 1 && (dir == "" || strings.HasSuffix(dir, "/")) {
			pkl, prefix = f, dir
		}
	}
	if pkl == nil {
		return nil, bad("not a PyTorch zip checkpoint: no data.pkl")
	}
	if bo, ok := records[prefix+"byteorder"]; ok {
		b, err := readRecord(buf, bo, 16)
		if err != nil {
			return nil, bad("byteorder: %v", err)
		}
		if string(b) != "little" {
			return nil, bad("byte order %q is not supported (want little)", b)
		}
	}
	p, err := readRecord(buf, pkl, maxPickle)
	if err != nil {
		return nil, bad("%s: %v", pkl.Name, err)
	}
	top, err := unpickle(p)
	if err != nil {
		var na *notAllowedError
		if errors.As(err, &na) {
			return nil, bad("%v", na)
		}
		return nil, bad("%s: %v", pkl.Name, err)
	}
	sd, ok := top.(*pyDict)
	if !ok {
		return nil, bad("the pickle holds a %s, want a dict of tensors", pyType(top))
	}
	if inner, ok := sd.get("state_dict"); ok {
		if d, ok := inner.(*pyDict); ok {
			sd = d
		}
	}
	c := &Ckpt{path: path, buf: buf, tensors: map[string]*ckptTensor{}}
	type entry struct {
		key string
		val any
	}
	var entries []entry
	for i, k := range sd.keys {
		name, ok := k.(string)
		if !ok {
			continue
		}
		entries = append(entries, entry{name, sd.vals[i]})
		// One level of nested dicts of tensors, named "outer.inner": an
		// AUTOMATIC1111 embedding's string_to_param {"*": tensor}.
		if inner, ok := sd.vals[i].(*pyDict); ok {
			for j, k2 := range inner.keys {
				if n2, ok := k2.(string); ok {
					entries = append(entries, entry{name + "." + n2, inner.vals[j]})
				}
			}
		}
	}
	for _, e := range entries {
		name := e.key
		ref, ok := e.val.(*tensorRef)
		if !ok || c.tensors[name] != nil {
			continue // hyper-parameters, optimizer state, ...
		}
		t, err := c.tensor(buf, records, prefix, name, ref)
		if err != nil {
			return nil, bad("tensor %q: %v", name, err)
		}
		c.tensors[name] = t
		c.names = append(c.names, name)
	}
	sort.Strings(c.names)
	return c, nil
}

// tensor checks a rebuilt tensor against its storage record.
func (c *Ckpt) tensor(buf []byte, records map[string]*zip.File, prefix, name string, ref *tensorRef) (*ckptTensor, error) {
	s := ref.storage
	rec, ok := records[prefix+"data/"+s.key]
	if !ok {
		return nil, fmt.Errorf("storage record data/%s is missing", s.key)
	}
	es := int64(s.dtype.Size())
	have := int64(rec.UncompressedSize64 / uint64(es)) // elements the record holds
	if rec.UncompressedSize64 > 1<<50 || have < s.numel {
		return nil, fmt.Errorf("storage data/%s holds %d bytes, %d %s elements declared", s.key, rec.UncompressedSize64, s.numel, s.dtype)
	}
	numel := int64(nn.Numel(ref.size))
	if numel > 0 {
		// The storage index of the tensor's last element, checked as it
		// grows so that it cannot overflow.
		last := ref.offset
		for i, d := range ref.size {
			if last < s.numel {
				last += int64(d-1) * ref.stride[i] // both < 2^31
			}
		}
		if last >= s.numel {
			return nil, fmt.Errorf("size %v, stride %v at offset %d reach past its storage of %d elements", ref.size, ref.stride, ref.offset, s.numel)
		}
		if numel > s.numel {
			return nil, fmt.Errorf("size %v repeats elements of its storage (%d elements); not supported", ref.size, s.numel)
		}
	}
	if rec.Method != zip.Store {
		if err := checkCompressed(buf, rec); err != nil {
			return nil, fmt.Errorf("storage data/%s: %v", s.key, err)
		}
	}
	t := &ckptTensor{ref: ref, rec: rec}
	t.info = Info{Name: name, DType: s.dtype, Shape: append([]int(nil), ref.size...),
		Begin: ref.offset * es, End: (ref.offset + numel) * es}
	if rec.Method == zip.Store {
		off, err := rec.DataOffset()
		n := int64(rec.UncompressedSize64)
		if err != nil || off < 0 || off > int64(len(buf)) || n > int64(len(buf))-off || rec.CompressedSize64 != rec.UncompressedSize64 {
			return nil, fmt.Errorf("storage record data/%s lies outside the file", s.key)
		}
		t.raw = buf[off : off+n]
	}
	return t, nil
}

// readRecord returns the bytes of a zip record of at most limit bytes.
func readRecord(buf []byte, f *zip.File, limit uint64) ([]byte, error) {
	n := f.UncompressedSize64
	if n > limit {
		return nil, fmt.Errorf("record of %d bytes exceeds the %d-byte limit", n, limit)
	}
	if f.Method == zip.Store {
		off, err := f.DataOffset()
		if err != nil || off < 0 || off > int64(len(buf)) || f.CompressedSize64 != n || n > uint64(int64(len(buf))-off) {
			return nil, errors.New("record lies outside the file")
		}
		return buf[off : off+int64(n)], nil
	}
	if err := checkCompressed(buf, f); err != nil {
		return nil, err
	}
	r, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, int64(n)+1))
	if err != nil {
		return nil, err
	}
	if uint64(len(b)) != n {
		return nil, fmt.Errorf("record holds %d bytes, header says %d", len(b), n)
	}
	return b, nil
}

// checkCompressed bounds the size a compressed record claims: its
// compressed bytes lie in the file, and deflate expands at most ~1032 times.
func checkCompressed(buf []byte, f *zip.File) error {
	if f.CompressedSize64 > uint64(len(buf)) || f.UncompressedSize64 > 1100*f.CompressedSize64+1024 {
		return fmt.Errorf("record claims %d bytes from %d compressed in a %d-byte file", f.UncompressedSize64, f.CompressedSize64, len(buf))
	}
	return nil
}

func pyType(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case *pyObject:
		return v.class.String()
	case *tensorRef:
		return "tensor"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	}
	return fmt.Sprintf("%T", v)
}

// Close releases the file's mapping. Tensors already read stay valid.
func (c *Ckpt) Close() error {
	if c.unmap == nil {
		return nil
	}
	err := c.unmap()
	c.unmap, c.buf = nil, nil
	for _, t := range c.tensors {
		t.raw = nil
	}
	return err
}

// Path is the checkpoint's path.
func (c *Ckpt) Path() string { return c.path }

// Names lists the state dict's tensor names in sorted order.
func (c *Ckpt) Names() []string { return c.names }

// Info describes the named tensor. Begin and End are byte offsets into the
// tensor's storage record (for a non-contiguous view, End-Begin is still
// the size of its elements packed).
func (c *Ckpt) Info(name string) (Info, bool) {
	t, ok := c.tensors[name]
	if !ok {
		return Info{}, false
	}
	in := t.info
	in.Shape = append([]int(nil), in.Shape...)
	return in, true
}

// Tensor reads a floating-point tensor, converted to float32. Views with
// any strides are gathered into a dense row-major tensor.
func (c *Ckpt) Tensor(name string) (*nn.Tensor, error) {
	t, ok := c.tensors[name]
	if !ok {
		return nil, fmt.Errorf("weights: %s: %q: %w", c.path, name, ErrNotFound)
	}
	dt := t.info.DType
	if !dt.Float() {
		return nil, fmt.Errorf("weights: %s: %q has dtype %s, want a float type", c.path, name, dt)
	}
	raw := t.raw
	if raw == nil {
		if c.buf == nil {
			return nil, fmt.Errorf("weights: %s: %q: file is closed", c.path, name)
		}
		var err error
		if raw, err = readRecord(c.buf, t.rec, t.rec.UncompressedSize64); err != nil {
			return nil, fmt.Errorf("weights: %s: %q: %w", c.path, name, err)
		}
	}
	out := nn.New(t.ref.size...)
	gather(out.Data, raw, dt, t.ref)
	return out, nil
}

// gather decodes the elements of ref, in row-major order, from its storage
// bytes raw: element (i0, i1, …) is storage[offset + Σ i_d·stride_d].
func gather(dst []float32, raw []byte, dt DType, ref *tensorRef) {
	if len(dst) == 0 {
		return
	}
	es := int64(dt.Size())
	if contiguous(ref.size, ref.stride) {
		DecodeFloat32(dst, raw[ref.offset*es:], dt)
		return
	}
	// Walk the index like an odometer, the last dimension fastest, and
	// decode each innermost row at once.
	nd := len(ref.size)
	idx := make([]int, nd)
	inner, innerStride := ref.size[nd-1], ref.stride[nd-1]
	row := make([]float32, 1)
	for o := 0; o < len(dst); o += inner {
		at := ref.offset
		for d := 0; d < nd-1; d++ {
			at += int64(idx[d]) * ref.stride[d]
		}
		for j := 0; j < inner; j++ {
			e := at + int64(j)*innerStride
			DecodeFloat32(row, raw[e*es:(e+1)*es], dt)
			dst[o+j] = row[0]
		}
		for d := nd - 2; d >= 0; d-- {
			idx[d]++
			if idx[d] < ref.size[d] {
				break
			}
			idx[d] = 0
		}
	}
}

// contiguous reports whether stride is the row-major stride of size
// (dimensions of size 1 may have any stride).
func contiguous(size []int, stride []int64) bool {
	want := int64(1)
	for i := len(size) - 1; i >= 0; i-- {
		if size[i] != 1 && stride[i] != want {
			return false
		}
		want *= int64(size[i])
	}
	return true
}
