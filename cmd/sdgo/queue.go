package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/sdgo/sdgo/server"
	"github.com/spf13/pflag"
)

// queueFlags are the flags that choose the job queue, shared by serve,
// worker and batch.
type queueFlags struct {
	url, creds, listen, dataDir string
	ackWait                     time.Duration
	maxDeliver                  int
}

func (q *queueFlags) add(fs *pflag.FlagSet, embedded bool) {
	fs.StringVar(&q.url, "nats", "", "NATS server URL(s) of a shared queue, e.g. nats://host:4222 (default: a NATS server embedded in this process)")
	fs.StringVar(&q.creds, "nats-creds", "", "NATS credentials file (for a secured server)")
	fs.DurationVar(&q.ackWait, "ack-wait", 30*time.Second, "a job whose worker is silent this long goes to another worker")
	fs.IntVar(&q.maxDeliver, "max-deliver", 3, "attempts before a job is failed with its last error")
	if embedded {
		fs.StringVar(&q.listen, "nats-listen", "", "let other machines reach the embedded NATS server at HOST:PORT (default: no TCP port)")
		fs.StringVar(&q.dataDir, "data-dir", "", "where the embedded NATS server keeps the queue (default: the user's cache folder, sdgo/queue)")
	}
}

// open connects to the queue the flags name: --nats URL, else an embedded
// server storing under --data-dir.
func (q *queueFlags) open(capacity int) (*server.JetStreamQueue, error) {
	opts := server.JetStreamOptions{Capacity: capacity, AckWait: q.ackWait, MaxDeliver: q.maxDeliver}
	switch {
	case q.ackWait <= 0:
		return nil, usagef("--ack-wait must be positive, got %v", q.ackWait)
	case q.maxDeliver < 1:
		return nil, usagef("--max-deliver must be at least 1, got %d", q.maxDeliver)
	}
	if q.url == "" {
		dir := q.dataDir
		if dir == "" {
			cache, err := os.UserCacheDir()
			if err != nil {
				return nil, fmt.Errorf("--data-dir: no cache folder (%v): name one", err)
			}
			dir = filepath.Join(cache, "sdgo", "queue")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("--data-dir: %w", err)
		}
		return server.NewEmbeddedQueue(dir, q.listen, opts)
	}
	if q.listen != "" || q.dataDir != "" {
		return nil, usagef("--nats-listen and --data-dir are for the embedded server: not with --nats")
	}
	nopts := []nats.Option{nats.Name("sdgo"), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)}
	if q.creds != "" {
		nopts = append(nopts, nats.UserCredentials(q.creds))
	}
	nc, err := nats.Connect(q.url, nopts...)
	if err != nil {
		return nil, fmt.Errorf("--nats %s: %w", q.url, err)
	}
	jq, err := server.NewJetStreamQueue(nc, opts)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("--nats %s: %w", q.url, err)
	}
	jq.OnClose(nc.Close)
	return jq, nil
}
