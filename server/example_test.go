package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/sdmini"
	"github.com/sdgo/sdgo/server"
)

// A server on sd-mini answering one AUTOMATIC1111 txt2img request.
func ExampleNewServer() {
	dir, err := sdmini.Path()
	if err != nil {
		panic(err)
	}
	model, err := pipeline.Load(dir, pipeline.LoadOptions{})
	if err != nil {
		panic(err)
	}
	srv, err := server.NewServer(server.Config{Model: model, ModelTitle: server.BuiltinModel})
	if err != nil {
		panic(err)
	}
	defer srv.Close(context.Background())
	ts := httptest.NewServer(srv) // or http.ListenAndServe("127.0.0.1:7860", srv)
	defer ts.Close()

	res, err := http.Post(ts.URL+"/sdapi/v1/txt2img", "application/json",
		strings.NewReader(`{"prompt": "a red circle on the left", "steps": 4, "seed": 42, "batch_size": 2}`))
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	var reply struct {
		Images []string `json:"images"` // base64 PNGs
		Info   string   `json:"info"`   // JSON in a string, as A1111 sends it
	}
	json.NewDecoder(res.Body).Decode(&reply)
	var info struct {
		Seeds []int `json:"all_seeds"`
	}
	json.Unmarshal([]byte(reply.Info), &info)
	fmt.Println(res.Status, len(reply.Images), "images, seeds", info.Seeds)
	// Output: 200 OK 2 images, seeds [42 43]
}
