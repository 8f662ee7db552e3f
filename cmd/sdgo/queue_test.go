package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/sdgo/sdgo/pipeline"
	"github.com/sdgo/sdgo/server"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files into a temporary folder.
type testPKI struct {
	ca, serverCert, serverKey, clientCert, clientKey string
	pool                                             *x509.CertPool
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sdgo test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	var p testPKI
	p.pool = x509.NewCertPool()
	p.pool.AddCert(caCert)
	p.ca = write("ca.pem", "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (cert, keyFile string) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", kder)
	}
	p.serverCert, p.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return p
}

// The queue flags connect to a NATS server that requires TLS and client
// certificates (nats.RootCAs, nats.ClientCert), a job goes through it, and
// a missing or bad file is reported naming its flag.
func TestQueueFlagsTLS(t *testing.T) {
	p := newTestPKI(t)
	cert, err := tls.LoadX509KeyPair(p.serverCert, p.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoSigs: true, TLSVerify: true, TLSTimeout: 5, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert},
			ClientCAs: p.pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	url := fmt.Sprintf("tls://%s", ns.Addr())

	q := queueFlags{url: url, ackWait: 5 * time.Second, maxDeliver: 1, tlsCA: p.ca, tlsCert: p.clientCert, tlsKey: p.clientKey}
	queue, err := q.open(4)
	if err != nil {
		t.Fatal(err)
	}
	defer queue.Close(context.Background())
	if err := queue.Work("m", 1, func(ctx context.Context, j *server.Job) error {
		j.Finish([]server.Image{{PNG: []byte("png"), Seed: j.Options.Seed}}, nil)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	j := server.NewJob(context.Background(), pipeline.Options{Prompt: "over TLS", Steps: 1, Seed: 9})
	j.Model = "m"
	if err := queue.Submit(j); err != nil {
		t.Fatal(err)
	}
	select {
	case <-j.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the job did not finish over TLS in 20 s")
	}
	if st := j.Status(); st.State != server.StateDone || len(st.Images) != 1 || st.Images[0].Seed != 9 {
		t.Errorf("job over TLS: %s %v", st.State, st.Err)
	}

	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	for _, tc := range []struct {
		name string
		q    queueFlags
		want string
	}{
		{"no CA: the server's certificate is not trusted", queueFlags{url: url, tlsCert: p.clientCert, tlsKey: p.clientKey}, "--nats " + url},
		{"no client certificate", queueFlags{url: url, tlsCA: p.ca}, "--nats " + url},
		{"missing CA file", queueFlags{url: url, tlsCA: "/nonexistent/ca.pem"}, "--nats-tls-ca: "},
		{"bad CA file", queueFlags{url: url, tlsCA: bad}, "--nats-tls-ca " + bad + ": no PEM certificate"},
		{"cert without key", queueFlags{url: url, tlsCert: p.clientCert}, "--nats-tls-cert needs --nats-tls-key"},
		{"key without cert", queueFlags{url: url, tlsKey: p.clientKey}, "--nats-tls-key needs --nats-tls-cert"},
		{"missing key file", queueFlags{url: url, tlsCert: p.clientCert, tlsKey: "/nonexistent/key.pem"}, "--nats-tls-key: "},
		{"bad key file", queueFlags{url: url, tlsCert: p.clientCert, tlsKey: bad}, "--nats-tls-cert " + p.clientCert + " / --nats-tls-key " + bad},
		{"TLS without --nats", queueFlags{tlsCA: p.ca}, "are for a NATS server named by --nats"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.ackWait, tc.q.maxDeliver = time.Second, 1
			q, err := tc.q.open(4)
			if err == nil {
				q.Close(context.Background())
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
		})
	}
	// The flags are the same on serve, worker and batch, and checked before
	// a model loads.
	for _, cmd := range []string{"serve", "worker", "batch"} {
		args := []string{cmd, "--nats", url, "--nats-tls-ca", "/nonexistent/ca.pem"}
		if cmd == "batch" {
			args = append(args, "r.jsonl", "--out", t.TempDir())
		}
		var stdout, stderr strings.Builder
		if code := run(args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "--nats-tls-ca: ") {
			t.Errorf("sdgo %s with a missing CA: status %d, %q", cmd, code, stderr.String())
		}
	}
}
