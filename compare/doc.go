// Package compare decides, request by request, whether the target answered
// as production did, and says how not.
//
// Data flow (the engine side that pairs responses is not wired yet):
//
//	online response stream --framer--> response --+
//	                                              +-> Differ (HTTP, RESP, MySQL, TCP) -> Diff
//	target response stream --framer--> response --+                                     |
//	second target (same build as production), optional -> Diff ---- Classify (noise) --+
//	                                                                                    v
//	                                              Result (diff, latency, endpoint) -> store -> report
//
// Framers: compare/httpframe (HTTP/1.x), compare/resp (Redis); MySQL
// responses are framed by protocol/mysql, which fills a MySQLResult; any
// other protocol is compared as the byte stream of one request (Bytes).
//
// A Diff lists the Kinds that differ (status, headers, body), the Fields
// that differ (a header name, a JSON path, a RESP element path), a short
// description, the first differing byte offset of the body and the sizes.
package compare
