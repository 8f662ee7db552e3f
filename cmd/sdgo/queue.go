package main

import (
	"crypto/tls"
	"crypto/x509"
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
	tlsCA, tlsCert, tlsKey      string
	ackWait                     time.Duration
	maxDeliver                  int
}

func (q *queueFlags) add(fs *pflag.FlagSet, embedded bool) {
	fs.StringVar(&q.url, "nats", "", "NATS server URL(s) of a shared queue, e.g. nats://host:4222 (default: a NATS server embedded in this process)")
	fs.StringVar(&q.creds, "nats-creds", "", "NATS credentials file (for a secured server)")
	fs.StringVar(&q.tlsCA, "nats-tls-ca", "", "PEM file of the CA(s) that signed the NATS server's certificate (default: the system's)")
	fs.StringVar(&q.tlsCert, "nats-tls-cert", "", "PEM client certificate, for a NATS server that verifies its clients (with --nats-tls-key)")
	fs.StringVar(&q.tlsKey, "nats-tls-key", "", "PEM private key of --nats-tls-cert")
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
	if err := q.check(); err != nil {
		return nil, err
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
	nopts, err := q.natsOptions()
	if err != nil {
		return nil, err
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

// check checks the queue's flags, naming the bad one: commands call it
// before they load a model.
func (q *queueFlags) check() error {
	switch {
	case q.ackWait <= 0:
		return usagef("--ack-wait must be positive, got %v", q.ackWait)
	case q.maxDeliver < 1:
		return usagef("--max-deliver must be at least 1, got %d", q.maxDeliver)
	case q.url == "" && (q.tlsCA != "" || q.tlsCert != "" || q.tlsKey != "" || q.creds != ""):
		return usagef("--nats-tls-ca, --nats-tls-cert, --nats-tls-key and --nats-creds are for a NATS server named by --nats")
	case q.url != "" && (q.listen != "" || q.dataDir != ""):
		return usagef("--nats-listen and --data-dir are for the embedded server: not with --nats")
	}
	_, err := q.natsOptions()
	return err
}

// natsOptions are the connection's options from the flags: reconnecting
// for ever, credentials, and TLS as nats.go takes it (nats.RootCAs,
// nats.ClientCert). The files are read here first, so that a missing or
// bad one is reported naming its flag rather than as a failed connection.
func (q *queueFlags) natsOptions() ([]nats.Option, error) {
	nopts := []nats.Option{nats.Name("sdgo"), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)}
	if q.creds != "" {
		if _, err := os.Stat(q.creds); err != nil {
			return nil, usagef("--nats-creds: %v", err)
		}
		nopts = append(nopts, nats.UserCredentials(q.creds))
	}
	if q.tlsCA != "" {
		pem, err := os.ReadFile(q.tlsCA)
		if err != nil {
			return nil, usagef("--nats-tls-ca: %v", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return nil, usagef("--nats-tls-ca %s: no PEM certificate in the file", q.tlsCA)
		}
		nopts = append(nopts, nats.RootCAs(q.tlsCA))
	}
	switch {
	case q.tlsCert != "" && q.tlsKey == "":
		return nil, usagef("--nats-tls-cert needs --nats-tls-key (the certificate's private key)")
	case q.tlsKey != "" && q.tlsCert == "":
		return nil, usagef("--nats-tls-key needs --nats-tls-cert (the certificate it belongs to)")
	case q.tlsCert != "":
		for _, f := range []struct{ flag, path string }{{"--nats-tls-cert", q.tlsCert}, {"--nats-tls-key", q.tlsKey}} {
			if _, err := os.Stat(f.path); err != nil {
				return nil, usagef("%s: %v", f.flag, err)
			}
		}
		if _, err := tls.LoadX509KeyPair(q.tlsCert, q.tlsKey); err != nil {
			return nil, usagef("--nats-tls-cert %s / --nats-tls-key %s: %v", q.tlsCert, q.tlsKey, err)
		}
		nopts = append(nopts, nats.ClientCert(q.tlsCert, q.tlsKey))
	}
	return nopts, nil
}
