package mysql

import (
	"bytes"
	"testing"
)

// FuzzMySQLStream feeds random client, target and online streams in random
// chunks: no panic, held bytes within the bound, queues bounded.
func FuzzMySQLStream(f *testing.F) {
	login := pkt(1, loginPayload(clientCaps, "app", nil, "shop", pluginNative))
	seed := func(parts ...[]byte) []byte {
		var b []byte
		for i, p := range parts {
			for len(p) > 0 {
				n := min(len(p), 200)
				b = append(b, byte(i%3), byte(n))
				b = append(b, p[:n]...)
				p = p[n:]
			}
		}
		return b
	}
	// stream order in seed: online, target, client, online, target, client...
	f.Add(seed(greeting(onlineScr, pluginNative, false), greeting(targetScr, pluginNative, false), login,
		pkt(2, okPkt), pkt(2, okPkt), pkt(0, []byte{comStmtPrepare}, []byte("SELECT ?")),
		prepareOK(3, 1, 1), prepareOK(1, 1, 1), pkt(0, []byte{comStmtExecute}, le32(3), []byte{0}, le32(1))))
	f.Add(seed(greeting(onlineScr, pluginSHA2, true), greeting(targetScr, pluginSHA2, true), login,
		pkt(2, []byte{1, 3}), pkt(2, []byte{1, 4}), pkt(0, []byte{comQuery}, []byte("SELECT 1"))))
	f.Add([]byte{})
	const maxHeld = 1 << 12
	f.Fuzz(func(t *testing.T, data []byte) {
		u, _ := NewUsers(testPasswd)
		st := NewStore(4, 4)
		st.Default = DefaultLogin("app", "")
		var s *Session
		if len(data) > 0 && data[0] == 0xAA {
			s, _ = NewResumed(Config{Users: u, Store: st, ClientAddr: "c", MaxHeld: maxHeld})
		} else {
			s = New(Config{Users: u, Store: st, ClientAddr: "c", MaxHeld: maxHeld})
		}
		var out []byte
		for len(data) >= 2 {
			which, n := data[0]%3, int(data[1])
			data = data[2:]
			n = min(n, len(data))
			chunk := data[:n]
			data = data[n:]
			out = out[:0]
			switch which {
			case 0:
				out, _ = s.Online(out, chunk, 0)
			case 1:
				out, _ = s.Target(out, chunk, 0)
			case 2:
				out, _ = s.Client(out, chunk, 0)
			}
			if s.cli.held() > maxHeld+256 {
				t.Fatalf("%d client bytes held", s.cli.held())
			}
			if len(s.target.q) > maxPending || len(s.online.q) > maxPending || len(s.recs) > maxRecords {
				t.Fatal("queues beyond their bounds")
			}
			var x Exchange
			for s.Exchange(&x) {
			}
		}
		_ = bytes.Clone(out)
	})
}
