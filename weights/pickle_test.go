package weights

import (
	"fmt"
	"strings"
	"testing"
)

// Hand-assembled pickles: what the interpreter builds, and the error each
// malformed or forbidden program gives.
func TestUnpickle(t *testing.T) {
	const (
		proto2 = "\x80\x02"
		stop   = "."
	)
	for _, tc := range []struct {
		name, prog string
		want       string // the value's description, or the error's text
	}{
		{"dict", proto2 + "}q\x00(X\x01\x00\x00\x00aK\x05X\x01\x00\x00\x00b\x88u" + stop, "dict a=5 b=true"},
		{"ints", proto2 + "(J\xff\xff\xff\xffM\x00\x01\x8a\x02\x00\x80\x8a\x00t" + stop, "tuple -1 256 -32768 0"},
		{"float", proto2 + "G\x3f\xf8\x00\x00\x00\x00\x00\x00" + stop, "1.5"},
		{"memo", proto2 + "]q\x01h\x01a" + stop, "list 1"},
		{"set item twice", proto2 + "}(K\x01K\x02K\x01K\x03u" + stop, "dict 1=3"},
		{"stack global", "\x80\x04\x8c\x0bcollections\x8c\x0bOrderedDict\x93)R" + stop, "dict"},
		{"empty", "", "no STOP opcode"},
		{"underflow", proto2 + "t" + stop, "no MARK"},
		{"pop under mark", proto2 + "N(0" + stop, "stack underflow"},
		{"unknown opcode", proto2 + "\xff", "unsupported opcode 0xff"},
		{"undefined memo", proto2 + "h\x07" + stop, "memo 7 not defined"},
		{"long string", proto2 + "X\xff\xff\xff\x7f" + stop, "exceeds the pickle"},
		{"forbidden global", proto2 + "cos\nsystem\n" + stop, `pickle global "os.system" is not allowed`},
		{"forbidden stack global", "\x80\x04\x8c\x08builtins\x8c\x04eval\x93" + stop, `pickle global "builtins.eval" is not allowed`},
		{"unhashable key", proto2 + "}]K\x01s" + stop, "unhashable dict key"},
		{"append to dict", proto2 + "}K\x01a" + stop, "APPEND to *weights.pyDict"},
		{"call a number", proto2 + "K\x01)R" + stop, "call of a int64"},
		{"bad persistent id", proto2 + "K\x01Q" + stop, "persistent id int64 is not a 5-tuple"},
		{"rebuild without storage", proto2 + "ctorch._utils\n_rebuild_tensor_v2\n(K\x00K\x00)))tR" + stop, "_rebuild_tensor of int64, want a storage"},
	} {
		v, err := unpickle([]byte(tc.prog))
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = describe(v)
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// describe prints a small value for the table above.
func describe(v any) string {
	switch v := v.(type) {
	case *pyDict:
		s := "dict"
		for i, k := range v.keys {
			s += " " + describe(k) + "=" + describe(v.vals[i])
		}
		return s
	case pyTuple:
		s := "tuple"
		for _, x := range v {
			s += " " + describe(x)
		}
		return s
	case *pyObject:
		return "obj " + v.class.String()
	case *pyList:
		return "list " + strings.TrimPrefix(describe(pyTuple{len(v.items)}), "tuple ")
	case string:
		return v
	}
	return strings.TrimSpace(strings.ReplaceAll(fmt.Sprint(v), "\n", " "))
}

// The values beside the state dict of a Lightning checkpoint: a torch.Size,
// a set, a NumPy scalar (whose bytes come through _codecs.encode), a dict
// keyed by the ModelCheckpoint class.
func TestUnpickleLightning(t *testing.T) {
	p, err := zipRecord("testdata/lightning.ckpt", "data.pkl")
	if err != nil {
		t.Fatal(err)
	}
	v, err := unpickle(p)
	if err != nil {
		t.Fatal(err)
	}
	top := v.(*pyDict)
	hp, _ := top.get("hparams")
	if got := describe(hp); got != "dict sizes=tuple 2 3 tags=obj __builtin__.set half=0.5" {
		t.Errorf("hparams: %s", got)
	}
	cb, _ := top.get("callbacks")
	cbd := cb.(*pyDict)
	mc := pyGlobal{"pytorch_lightning.callbacks.model_checkpoint", "ModelCheckpoint"}
	if len(cbd.keys) != 1 || cbd.keys[0] != mc {
		t.Fatalf("callbacks keys %v", cbd.keys)
	}
	best, _ := cbd.vals[0].(*pyDict).get("best_k_models")
	score, _ := best.(*pyDict).get("x.ckpt")
	o, ok := score.(*pyObject)
	if !ok || o.class.String() != "numpy.core.multiarray.scalar" {
		t.Fatalf("best score %#v", score)
	}
	if raw, ok := o.args.(pyTuple)[1].([]byte); !ok || len(raw) != 8 {
		t.Fatalf("numpy scalar bytes %#v", o.args)
	}
}
