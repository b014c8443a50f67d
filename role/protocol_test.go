package role

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/ledger"
	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/protocol/mysql"
)

func mysqlCopy(t *testing.T, extra string, protos ...string) *configs.Copy {
	t.Helper()
	text := "[copy]\ninterface = \"eth0\"\ngateways = [\"10.0.0.40:36524\"]\ntoken = \"t0ken-0123456789abcdef\"\n" +
		"[copy.mysql]\nusers = [\"app pw\"]\n" + extra
	for i, p := range protos {
		text += "[[copy.route]]\nfrom = \"10.0.0.20:" + string(rune('1'+i)) + "306\"\nto = \"10.0.0.30:3306\"\nprotocol = \"" + p + "\"\n"
	}
	c, err := configs.ParseFor([]byte(text), "c.toml", configs.RoleCopier)
	if err != nil {
		t.Fatal(err)
	}
	return c.Copy
}

func TestRouteProtocols(t *testing.T) {
	midstream := protocol.Start{Client: netip.MustParseAddrPort("10.0.0.9:40000"), Midstream: true}
	tests := []struct {
		name    string
		extra   string
		protos  []string
		err     string
		resumed string // "" : no check; else the fate code (or "ok") of a midstream session of route 0
	}{
		{"tcp is the passthrough", "", []string{"tcp", "mysql"}, "", ""},
		{"mysql without default user", "", []string{"mysql", "mysql"}, "", mysql.FateNoLogin},
		{"mysql with default user", "default_user = \"app\"\ndefault_schema = \"sbtest\"\n", []string{"mysql"}, "", "ok"},
		{"http is protocol/http", "", []string{"mysql", "http"}, "", ""},
		{"redis not built", "", []string{"redis"}, `copy.route[0].protocol: "redis" is not built yet`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mysqlCopy(t, tt.extra, tt.protos...)
			routes := make([]copier.Route, len(cfg.Routes))
			ms, err := setProtocols(routes, cfg)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			mysqlRoutes := 0
			for i, r := range routes {
				if (r.Protocol != nil) != (tt.protos[i] == "mysql" || tt.protos[i] == "http") {
					t.Fatalf("route %d (%s): protocol set %v", i, tt.protos[i], r.Protocol != nil)
				}
				if tt.protos[i] != "mysql" {
					continue
				}
				mysqlRoutes++
				p, err := r.Protocol(protocol.Start{Client: netip.MustParseAddrPort("10.0.0.9:40001")})
				if _, ok := p.(*mysql.Session); !ok || err != nil {
					t.Fatalf("route %d: %T, %v", i, p, err)
				}
			}
			if (len(ms) > 0) != (mysqlRoutes > 0) {
				t.Errorf("%d counters for %d mysql routes", len(ms), mysqlRoutes)
			}
			switch tt.resumed {
			case "ok":
				if _, err := routes[0].Protocol(midstream); err != nil {
					t.Errorf("resumed session: %v", err)
				}
			case "":
			default:
				_, err := routes[0].Protocol(midstream)
				if f, ok := err.(*protocol.Fate); !ok || f.Code != tt.resumed {
					t.Errorf("resumed session: %v, want fate %s", err, tt.resumed)
				}
			}
		})
	}
}

// The ledger entry of a MySQL session names its user and statements; a
// protocol's fate replaces the engine's.
func TestProtocolFigures(t *testing.T) {
	var e ledger.Entry
	e.Fate = "replayed"
	protocolFigures(&e, nil)
	if e.Fate != "replayed" || e.User != "" {
		t.Fatalf("passthrough entry %+v", e)
	}
	u, _ := mysql.NewUsers(map[string]string{"app": "pw"})
	st := mysql.NewStore(4, 4)
	st.Default = mysql.DefaultLogin("app", "sbtest")
	s, err := mysql.NewResumed(mysql.Config{Users: u, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	protocolFigures(&e, s)
	if e.User != "app" || e.Fate != "replayed" {
		t.Fatalf("resumed entry %+v", e)
	}
	// The target greets with a protocol version this package refuses.
	s.Target(nil, []byte{1, 0, 0, 0, 9}, 0)
	protocolFigures(&e, s)
	if e.Fate != mysql.FateOldProtocol || !strings.Contains(e.Detail, "protocol version 9") {
		t.Fatalf("failed entry %+v", e)
	}
}
