package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg         *prometheus.Registry
	jobs        *prometheus.CounterVec // by outcome
	stepSeconds prometheus.Histogram
	images      prometheus.Counter
	loadSeconds prometheus.Gauge
}

func newMetrics(q func() QueueStats) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sdgo_jobs_total", Help: "Generation jobs finished, by outcome (done, failed, cancelled, rejected).",
		}, []string{"outcome"}),
		stepSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sdgo_step_seconds", Help: "Seconds per sampler step.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14), // 5 ms … 41 s
		}),
		images:      prometheus.NewCounter(prometheus.CounterOpts{Name: "sdgo_images_total", Help: "Images made."}),
		loadSeconds: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sdgo_model_load_seconds", Help: "Seconds the current model took to load."}),
	}
	for _, o := range []string{"done", "failed", "cancelled", "rejected"} {
		m.jobs.WithLabelValues(o)
	}
	m.reg.MustRegister(m.jobs, m.stepSeconds, m.images, m.loadSeconds,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sdgo_queue_waiting", Help: "Jobs waiting in the queue."},
			func() float64 { return float64(q().Waiting) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sdgo_queue_running", Help: "Jobs running."},
			func() float64 { return float64(q().Running) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}
