package weights

import (
	"fmt"
	"sync"

	"github.com/sdgo/sdgo/nn"
)

// ShapeRecorder is a Source that holds no data but answers for every name:
// a model loaded from it records, through its Loader, the name and shape of
// every tensor it reads, in reading order, and receives tensors of those
// shapes without data (such a model must not be run). It lists a model's
// tensors from its config through the very code that loads real
// checkpoints, so that a checkpoint of random weights (sdgo bench) has
// exactly the tensors a real one has, with no second list to keep in step.
//
//	rec := &weights.ShapeRecorder{}
//	unet.Load(rec, unet.SDXL()) // rec.Entries: conv_in.weight (320, 4, 3, 3), …
type ShapeRecorder struct {
	mu sync.Mutex
	// Entries are the tensors read: Name (under the loader's prefix) and
	// Shape, with DType F16 for matrices a loader keeps in half precision
	// and F32 otherwise; no data.
	Entries []Entry
	// Known gives the shapes of tensors a loader reads its architecture
	// from (a model without a config, such as TAESD, whose width is its
	// first convolution's): Info answers with them.
	Known map[string][]int
}

// Names lists nothing: the recorder holds no tensors of its own.
func (r *ShapeRecorder) Names() []string { return nil }

// Info reports every name as present (so optional parts are loaded and
// recorded), with its shape in Known or none.
func (r *ShapeRecorder) Info(name string) (Info, bool) {
	return Info{Name: name, DType: F32, Shape: r.Known[name]}, true
}

// Tensor fails: tensors are only handed out through a Loader.
func (r *ShapeRecorder) Tensor(name string) (*nn.Tensor, error) {
	return nil, fmt.Errorf("weights: %q: a ShapeRecorder holds no data", name)
}

// record notes one tensor a loader asked for and returns it, without data.
func (r *ShapeRecorder) record(name string, shape []int, p Precision) *nn.Tensor {
	dt := F32
	if p != KeepFloat32 && len(shape) > 1 {
		dt = F16
	}
	r.mu.Lock()
	r.Entries = append(r.Entries, Entry{Name: name, DType: dt, Shape: append([]int(nil), shape...)})
	r.mu.Unlock()
	return &nn.Tensor{Shape: append([]int(nil), shape...)}
}
