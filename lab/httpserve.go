package lab

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// serveHTTP serves h on ln (keep-alive on) in a goroutine until the
// server is closed; done is closed when it has stopped. Errors other
// than the close go to log, named by what.
func serveHTTP(ln net.Listener, h http.Handler, log *slog.Logger, what string) (srv *http.Server, done chan struct{}) {
	srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	done = make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn(what+": serve", "addr", ln.Addr(), "err", err)
		}
	}()
	return srv, done
}
