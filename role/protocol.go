package role

import (
	"fmt"

	"github.com/replaygw/replaygw/configs"
	"github.com/replaygw/replaygw/copier"
	"github.com/replaygw/replaygw/counter"
	"github.com/replaygw/replaygw/ledger"
	"github.com/replaygw/replaygw/protocol"
	"github.com/replaygw/replaygw/protocol/http"
	"github.com/replaygw/replaygw/protocol/mysql"
)

// Route protocols: each [[copy.route]]'s protocol key names the package
// that makes its sessions' protocol state (copier.Route.Protocol):
//
//	"tcp"   -> nil: the engine's passthrough (tcp.Compare when compared)
//	"mysql" -> protocol/mysql, every mysql route sharing one Users (read
//	           once by configs), one Store of saved logins and statement
//	           texts (sessions resumed mid-stream) and one Stats
//	"http", "redis" -> protocol/http, protocol/redis

// protocols builds the routes' protocol constructors of one copier.
type protocols struct {
	cfg   *configs.Copy
	mysql *mysql.Config // shared by the mysql routes; nil until one needs it
	stats *mysql.Stats
}

// setProtocols sets the Protocol of every route from cfg.Routes (same
// order) and returns the counters of the protocol packages used.
func setProtocols(routes []copier.Route, cfg *configs.Copy) ([]counter.Metric, error) {
	p := &protocols{cfg: cfg}
	for i := range routes {
		nw, err := p.routeProtocol(cfg.Routes[i].Protocol, routeOptions(cfg, i))
		if err != nil {
			return nil, fmt.Errorf("copier: copy.route[%d].protocol: %w", i, err)
		}
		routes[i].Protocol = nw
	}
	if p.stats != nil {
		return p.stats.Counters(), nil
	}
	return nil, nil
}

// routeOptions are what route i's configuration asks of its protocol:
// exchanges with payloads when [compare] covers it.
func routeOptions(cfg *configs.Copy, i int) protocol.Options {
	r := &cfg.Routes[i]
	return protocol.Options{Compare: r.Compared, Keep: r.CompareKeep}
}

// routeProtocol maps a route's protocol name and options to its New; nil
// is the engine's passthrough.
func (p *protocols) routeProtocol(name string, opts protocol.Options) (protocol.New, error) {
	switch name {
	case "", configs.ProtocolTCP:
		if opts.Compare {
			return nil, fmt.Errorf("comparing %q routes is not built yet", name)
		}
		return nil, nil
	case configs.ProtocolMySQL:
		c, err := p.mysqlConfig()
		if err != nil {
			return nil, err
		}
		return mysql.Protocol(c.WithOptions(opts)), nil
	case configs.ProtocolHTTP:
		return http.New(opts), nil
	case configs.ProtocolRedis:
		return nil, fmt.Errorf("%q is not built yet; use \"tcp\"", name)
	}
	return nil, fmt.Errorf("unknown protocol %q (want one of %v)", name, configs.Protocols)
}

// mysqlConfig is the Config shared by every mysql route, made once.
func (p *protocols) mysqlConfig() (*mysql.Config, error) {
	if p.mysql != nil {
		return p.mysql, nil
	}
	m := p.cfg.MySQL
	if m == nil || m.Passwords.Len() == 0 {
		return nil, fmt.Errorf("%q needs [copy.mysql] users_file or users", configs.ProtocolMySQL)
	}
	store := mysql.NewStore(m.SavedLogins, m.SavedStatements)
	if m.DefaultUser != "" {
		store.Default = mysql.DefaultLogin(m.DefaultUser, m.DefaultSchema)
	}
	p.stats = &mysql.Stats{}
	p.mysql = &mysql.Config{Users: m.Passwords, Store: store, Stats: p.stats}
	return p.mysql, nil
}

// protocolFigures adds to a session's ledger entry what only its protocol
// knows: the fate it stopped the session with (code and detail, in place
// of the engine's), and a MySQL session's user and statement counts.
func protocolFigures(e *ledger.Entry, p protocol.Protocol) {
	if p == nil {
		return
	}
	if f := p.Fate(); f != nil {
		e.Fate, e.Detail = f.Code, f.Detail
	}
	if ms, ok := p.(*mysql.Session); ok {
		c := ms.Counts()
		e.User, e.Statements, e.StatementsOnline, e.StatementsTarget, e.StatementsDiffer =
			c.User, c.Statements, c.Online, c.Target, c.Differ
	}
}
