// Command idsrv is the lab benchmark's HTTP server, run as its own process
// on the online host and on the target so that the CPU time of each can be
// read like the copier's: a plain net/http server (keep-alive on) that
// answers every request 200 with its id (the X-Req-Id header, else the
// path after /r/) as the body, like lab.IDServer.
//
// With -admin it also remembers every id it answered and serves them on
// that second address: GET /ids?prefix=P lists the ids starting with P,
// one per line.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// answered is the list of ids answered, in order (duplicates kept: a
// client retransmission answered twice is still one id).
type answered struct {
	mu  sync.Mutex
	ids []string
}

func (a *answered) add(id string) {
	a.mu.Lock()
	a.ids = append(a.ids, id)
	a.mu.Unlock()
}

func (a *answered) serveIDs(w http.ResponseWriter, r *http.Request) {
	prefix := r.URL.Query().Get("prefix")
	a.mu.Lock()
	ids := a.ids
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	var b strings.Builder
	for _, id := range ids {
		if strings.HasPrefix(id, prefix) {
			b.WriteString(id)
			b.WriteByte('\n')
		}
	}
	_, _ = w.Write([]byte(b.String()))
}

func main() {
	addr := flag.String("listen", ":80", "listen address")
	admin := flag.String("admin", "", "address serving /ids (empty: ids are not remembered)")
	flag.Parse()
	var seen *answered
	if *admin != "" {
		seen = &answered{}
		mux := http.NewServeMux()
		mux.HandleFunc("/ids", seen.serveIDs)
		go func() { log.Fatal(http.ListenAndServe(*admin, mux)) }()
	}
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
			w.Header().Set("Content-Length", strconv.Itoa(len(id)+1))
			w.WriteHeader(http.StatusOK)
			if _, err := w.Write([]byte(id + "\n")); err == nil && seen != nil {
				seen.add(id)
			}
		}),
	}
	fmt.Println("idsrv listening on", *addr)
	log.Fatal(srv.ListenAndServe())
}
