// Package mysql replays MySQL and MariaDB sessions on a protocol layer.
//
// A captured login cannot be replayed byte for byte: the client signed its
// auth response with the online server's random scramble, and every server
// numbers prepared statements itself. A Session sits between the captured
// client stream and the target:
//
//	target greeting (Target) -> scramble, capabilities, plugin
//	client HandshakeResponse41 (Client) -> rebuilt with the target's
//	    scramble and the configured password (Users) -> target
//	target auth challenges (AuthSwitch, caching_sha2 full auth, ed25519)
//	    -> answered by the Session itself (inserted client bytes); the
//	       client's own answers to the online server are dropped
//	client commands (Client) -> statement ids rewritten online->target,
//	    COM_CHANGE_USER re-signed -> target
//	online and target responses (Online, Target) -> response boundaries
//	    (pacing Marks, RequestOffsets), PREPARE_OK ids, one Exchange per
//	    request; Online and Target also append client bytes: the auth
//	    answers the Session inserts and the commands it held
//
// Every packet is reassembled across segment cuts (16 MB continuations
// pass through); at most one packet plus MaxHeld bytes are held per stream.
//
// A Session refuses what it cannot keep consistent with a Fate (TLS,
// compression, unknown plugins, users without a password, LOCAL INFILE).
// Store keeps the last logins and prepared statement texts so that a
// session whose login happened before the capture can be resumed
// (NewResumed).
//
// See docs/mysql.md.
package mysql
