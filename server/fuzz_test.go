package server

import (
	"bytes"
	"context"
	"net/http/httptest"
	"sync"
	"testing"
)

// instantQueue is FuzzPost's queue: it finishes every job as it is
// submitted, with no image, so that the fuzz measures decoding and
// validation alone (a real queue's polling and capacity would make its
// executions wait, and a full queue answers 503).
type instantQueue struct{ jobs sync.Map }

func (q *instantQueue) Submit(j *Job) error {
	q.jobs.Store(j.ID, j)
	j.Start()
	j.Finish(nil, nil)
	return nil
}

func (q *instantQueue) Job(id string) (*Job, bool) {
	j, ok := q.jobs.Load(id)
	if !ok {
		return nil, false
	}
	return j.(*Job), true
}

func (q *instantQueue) Cancel(id string) bool       { _, ok := q.jobs.Load(id); return ok }
func (q *instantQueue) Running() []*Job             { return nil }
func (q *instantQueue) Stats() QueueStats           { return QueueStats{Capacity: 1} }
func (q *instantQueue) Close(context.Context) error { return nil }

// postRoutes are every POST route of the server.
var postRoutes = []string{"/sdapi/v1/txt2img", "/sdapi/v1/img2img", "/sdapi/v1/interrupt", "/sdapi/v1/skip", "/sdapi/v1/options",
	"/sdapi/v1/png-info", "/sdapi/v1/refresh-checkpoints", "/v1/images/generations", "/v1/images/edits", "/api/jobs"}

// FuzzPost feeds random bodies to every POST route: each answer is a 2xx or
// a 4xx, never a panic or a 5xx. The jobs run on a fake queue (decoding and
// validation are what is fuzzed: see instantQueue).
func FuzzPost(f *testing.F) {
	q := &instantQueue{}
	m := loadMini(f)
	s, err := NewServer(Config{Model: m, ModelTitle: BuiltinModel, Queue: q, Limits: Limits{MaxBody: 1 << 20, MaxImageSide: 512}})
	if err != nil {
		f.Fatal(err)
	}
	for i := range postRoutes {
		for _, body := range []string{`{}`, `{"prompt":"a red circle","steps":2,"seed":1}`, `{"init_images":["iVBORw0KGgo="]}`,
			`{"sd_model_checkpoint":"sd-mini"}`, `{"image":""}`, `{"prompt":"x","n":2,"size":"64x64"}`, `null`, `[]`, `{"steps":1e400}`} {
			f.Add(uint8(i), []byte(body))
		}
	}
	f.Add(uint8(8), []byte("--b\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nx\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := postRoutes[int(route)%len(postRoutes)]
		req := httptest.NewRequest("POST", path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if path == "/v1/images/edits" {
			req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code >= 500 || rec.Code < 200 {
			t.Fatalf("POST %s %q: %d %s", path, body, rec.Code, rec.Body.Bytes())
		}
		if rec.Code >= 400 && !bytes.Contains(rec.Body.Bytes(), []byte(`"error"`)) {
			t.Fatalf("POST %s %q: %d without a JSON error: %s", path, body, rec.Code, rec.Body.Bytes())
		}
	})
}
