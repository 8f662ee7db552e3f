package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes registers every route of the server.
func (s *Server) routes() {
	// The page and the process's health.
	s.handle("GET /{$}", apiPublic, s.page)
	s.handle("GET /healthz", apiPublic, s.healthz)
	s.handle("GET /readyz", apiPublic, s.readyz)
	metrics := promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})
	s.handle("GET /metrics", apiNative, func(w http.ResponseWriter, r *http.Request) error {
		metrics.ServeHTTP(w, r)
		return nil
	})

	// AUTOMATIC1111's web UI API.
	s.handle("POST /sdapi/v1/txt2img", apiA1111, s.txt2img)
	s.handle("POST /sdapi/v1/img2img", apiA1111, s.img2img)
	s.handle("GET /sdapi/v1/progress", apiA1111, s.progress)
	s.handle("POST /sdapi/v1/interrupt", apiA1111, s.interrupt)
	s.handle("POST /sdapi/v1/skip", apiA1111, s.interrupt)
	s.handle("GET /sdapi/v1/samplers", apiA1111, s.samplers)
	s.handle("GET /sdapi/v1/schedulers", apiA1111, s.schedulers)
	s.handle("GET /sdapi/v1/sd-models", apiA1111, s.sdModels)
	s.handle("GET /sdapi/v1/options", apiA1111, s.getOptions)
	s.handle("POST /sdapi/v1/options", apiA1111, s.setOptions)
	s.handle("POST /sdapi/v1/png-info", apiA1111, s.pngInfo)
	s.handle("POST /sdapi/v1/refresh-checkpoints", apiA1111, s.refreshCheckpoints)
	s.handle("GET /sdapi/v1/loras", apiA1111, s.loras)
	s.handle("GET /sdapi/v1/embeddings", apiA1111, s.embeddings)
	s.handle("GET /sdapi/v1/upscalers", apiA1111, emptyList)
	s.handle("GET /sdapi/v1/sd-vae", apiA1111, emptyList)
	s.handle("GET /sdapi/v1/latent-upscale-modes", apiA1111, emptyList)
	s.handle("GET /sdapi/v1/prompt-styles", apiA1111, emptyList)

	// OpenAI's images API, as stable-diffusion.cpp's sd-server offers it.
	s.handle("POST /v1/images/generations", apiOpenAI, s.openAIGenerations)
	s.handle("POST /v1/images/edits", apiOpenAI, s.openAIEdits)

	// sdgo's own job API, which the page uses.
	s.handle("GET /api/info", apiNative, s.apiInfo)
	s.handle("POST /api/jobs", apiNative, s.createJob)
	s.handle("GET /api/jobs/{id}", apiNative, s.getJob)
	s.handle("GET /api/jobs/{id}/events", apiNative, s.jobEvents)
	s.handle("DELETE /api/jobs/{id}", apiNative, s.cancelJob)

	// The Explore page: one generation with every stage shown.
	s.handle("GET /explore", apiPublic, s.explorePage)
	s.handle("POST /api/explore", apiNative, s.explore)
}
