package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// api names the family of a route, which decides the shape of its errors.
type api int

const (
	apiNative api = iota // {"error": {"message", "field"}}
	apiA1111             // {"error", "detail", "body", "errors"}, as AUTOMATIC1111's API answers
	apiOpenAI            // {"error": {"message", "type", "param", "code"}}
	apiPublic            // no key needed: the page, /healthz, /readyz
)

// httpError is an error with its HTTP status.
type httpError struct {
	status int
	err    error
	header map[string]string
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

func statusError(status int, format string, a ...any) error {
	return &httpError{status: status, err: fmt.Errorf(format, a...)}
}

// handlerFunc is a handler that returns its error for handle to write.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// reqInfo collects what the log line of a request shows beyond the basics.
type reqInfo struct{ jobID string }

type reqInfoKey struct{}

// noteJob records the job a request made or read, for its log line.
func noteJob(r *http.Request, id string) {
	if ri, ok := r.Context().Value(reqInfoKey{}).(*reqInfo); ok {
		ri.jobID = id
	}
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// handle registers h at pattern with the request's log line, the API key
// check and the error writing of its API family. A panic in h is logged and
// answered with a 500, and the server goes on.
func (s *Server) handle(pattern string, family api, h handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := &reqInfo{}
		r = r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, ri))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic", "route", pattern, "panic", fmt.Sprint(p))
				if sw.status == 0 {
					s.writeError(sw, family, statusError(http.StatusInternalServerError, "internal error"))
				}
			}
			attrs := []any{"method", r.Method, "route", pattern, "status", sw.status, "duration", time.Since(start).Round(time.Microsecond)}
			if ri.jobID != "" {
				attrs = append(attrs, "job", ri.jobID)
			}
			s.log.Info("request", attrs...)
		}()
		if family != apiPublic && !s.authorized(r) {
			sw.Header().Set("WWW-Authenticate", `Bearer realm="sdgo"`)
			s.writeError(sw, family, statusError(http.StatusUnauthorized, "missing or wrong API key (send Authorization: Bearer KEY)"))
			return
		}
		if err := h(sw, r); err != nil {
			switch {
			case sw.status != 0: // the reply had begun (a stream): nothing more to say
			case errors.Is(err, errDisconnect):
				sw.status = 499 // nginx's "client closed request", for the log: nobody reads a reply
			default:
				s.writeError(sw, family, err)
			}
		}
	})
}

// authorized reports whether r carries the API key, compared in constant time.
func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.APIKey == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.APIKey)) == 1
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// writeError writes err in the shape of the route's API family.
func (s *Server) writeError(w http.ResponseWriter, family api, err error) {
	status, field := http.StatusInternalServerError, ""
	var he *httpError
	var fe *fieldError
	switch {
	case errors.As(err, &he):
		status = he.status
		for k, v := range he.header {
			w.Header().Set(k, v)
		}
		if errors.As(err, &fe) {
			field = fe.Field
		}
	case errors.As(err, &fe):
		status, field = http.StatusBadRequest, fe.Field
		if strings.Contains(fe.Msg, "request body is larger") {
			status = http.StatusRequestEntityTooLarge
		} else if family == apiA1111 {
			status = http.StatusUnprocessableEntity // FastAPI's validation status, as A1111 answers
		}
	case errors.Is(err, ErrQueueFull), errors.Is(err, ErrClosed):
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
	}
	msg := err.Error()
	switch family {
	case apiA1111:
		writeJSON(w, status, map[string]any{"error": http.StatusText(status), "detail": msg, "body": "", "errors": msg, "field": field})
	case apiOpenAI:
		typ := "invalid_request_error"
		if status >= 500 {
			typ = "server_error"
		}
		var param any
		if field != "" {
			param = field
		}
		writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": param, "code": nil}})
	default:
		e := map[string]any{"message": msg}
		if field != "" {
			e["field"] = field
		}
		writeJSON(w, status, map[string]any{"error": e})
	}
}
