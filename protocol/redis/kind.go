package redis

// Command names as exchange kinds: a known command's name is a constant
// string (no allocation per command); any other is Other, or on a
// compared route its own name, upper-cased, when it looks like one.

// Other is the kind of a command whose name is not in the table.
const Other = "OTHER"

// stoppers are the commands after which replies stop following commands
// one for one.
var stoppers = map[string]bool{
	"SUBSCRIBE": true, "PSUBSCRIBE": true, "SSUBSCRIBE": true,
	"MONITOR": true, "SYNC": true, "PSYNC": true,
}

// names are the commands whose kind is their name.
var names = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		"APPEND", "AUTH", "BITCOUNT", "BLMOVE", "BLPOP", "BRPOP", "BZPOPMIN", "BZPOPMAX",
		"CLIENT", "CLUSTER", "COMMAND", "CONFIG", "COPY", "DBSIZE", "DECR", "DECRBY", "DEL",
		"DISCARD", "DUMP", "ECHO", "EVAL", "EVALSHA", "EXEC", "EXISTS", "EXPIRE", "EXPIREAT",
		"FCALL", "FLUSHALL", "FLUSHDB", "FUNCTION", "GEOADD", "GEOSEARCH", "GET", "GETDEL",
		"GETEX", "GETRANGE", "GETSET", "HDEL", "HELLO", "HEXISTS", "HGET", "HGETALL",
		"HINCRBY", "HKEYS", "HLEN", "HMGET", "HMSET", "HSCAN", "HSET", "HSETNX", "HVALS",
		"INCR", "INCRBY", "INCRBYFLOAT", "INFO", "KEYS", "LINDEX", "LINSERT", "LLEN",
		"LMOVE", "LPOP", "LPOS", "LPUSH", "LRANGE", "LREM", "LSET", "LTRIM", "MGET", "MSET",
		"MSETNX", "MULTI", "OBJECT", "PERSIST", "PEXPIRE", "PFADD", "PFCOUNT", "PING",
		"PSETEX", "PTTL", "PUBLISH", "QUIT", "RENAME", "RESET", "RPOP", "RPUSH", "SADD",
		"SCAN", "SCARD", "SCRIPT", "SDIFF", "SELECT", "SET", "SETEX", "SETNX", "SETRANGE",
		"SINTER", "SISMEMBER", "SMEMBERS", "SMOVE", "SPOP", "SRANDMEMBER", "SREM", "SSCAN",
		"STRLEN", "SUNION", "TIME", "TOUCH", "TTL", "TYPE", "UNLINK", "UNWATCH", "WAIT",
		"WATCH", "XACK", "XADD", "XCLAIM", "XDEL", "XGROUP", "XINFO", "XLEN", "XRANGE",
		"XREAD", "XREADGROUP", "XREVRANGE", "XTRIM", "ZADD", "ZCARD", "ZCOUNT", "ZINCRBY",
		"ZRANGE", "ZRANGEBYSCORE", "ZRANK", "ZREM", "ZREVRANGE", "ZREVRANK", "ZSCAN", "ZSCORE",
	} {
		m[n] = n
	}
	for n := range stoppers {
		m[n] = n
	}
	return m
}()

// maxName bounds a command name (the Cutter keeps 32 bytes of it).
const maxName = 32

// kind returns the kind of a command named name (any case) and whether
// it stops the framing. compared: an unknown name that looks like a
// command's is returned upper-cased (allocated) rather than as Other.
func kind(name []byte, compared bool) (string, bool) {
	var up [maxName]byte
	if len(name) == 0 || len(name) > maxName {
		return Other, false
	}
	for i, c := range name {
		switch {
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.', c == '|':
		default:
			return Other, false
		}
		up[i] = c
	}
	u := up[:len(name)]
	if k, ok := names[string(u)]; ok {
		return k, stoppers[k]
	}
	if compared {
		return string(u), false
	}
	return Other, false
}
