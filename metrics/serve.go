package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves /metrics (Prometheus text format) and /status (JSON).
func (e *Exporter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{
		ErrorLog:      slogPrinter{e},
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(e.Status()); err != nil {
			e.log.Debug("metrics: write status", "err", err)
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "replaygw %s: /metrics (Prometheus), /status (JSON)\n", e.role)
	})
	return mux
}

type slogPrinter struct{ e *Exporter }

func (p slogPrinter) Println(v ...any) { p.e.log.Warn("metrics: scrape", "err", fmt.Sprint(v...)) }

// Serve listens on listen ("127.0.0.1:9257") and serves Handler until ctx
// ends; then it shuts down and returns nil.
func (e *Exporter) Serve(ctx context.Context, listen string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("metrics: listen %s: %w", listen, err)
	}
	return e.ServeListener(ctx, ln)
}

// ServeListener is Serve on an open listener, which it closes.
func (e *Exporter) ServeListener(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		e.Sample()
		for {
			select {
			case <-ctx.Done():
				sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				srv.Shutdown(sctx)
				cancel()
				return
			case <-t.C:
				e.Sample()
			}
		}
	}()
	e.log.Info("metrics: serving", "addr", ln.Addr().String(), "role", e.role)
	err := srv.Serve(ln)
	cancel()
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("metrics: serve %s: %w", ln.Addr(), err)
}
