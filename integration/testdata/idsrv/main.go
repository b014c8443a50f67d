// Command onlinesrv is the lab benchmark's online server, run as its own
// process so that its CPU time can be compared with the copier's: a plain
// net/http server (keep-alive on) that answers every request 200 with its
// id (the X-Req-Id header, else the path after /r/) as the body, like
// integration.IDServer.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"strings"
	"time"
)

func main() {
	addr := flag.String("listen", ":80", "listen address")
	flag.Parse()
	srv := &http.Server{
		Addr:              *addr,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("X-Req-Id")
			if id == "" {
				id = strings.TrimPrefix(r.URL.Path, "/r/")
			}
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Content-Length", fmt.Sprint(len(id)+1))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(id + "\n"))
		}),
	}
	log.Fatal(srv.ListenAndServe())
}
