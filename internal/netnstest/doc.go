// Package netnstest is test support for the root-only network tests of
// replaygw, in the spirit of wireguard-go's tun/tuntest: it creates
// throwaway network namespaces (alone, joined by a Veth of given ends, or
// as a Pair routed through one), runs Go code inside one on a dedicated OS
// thread, runs ip/tc commands and reads and writes per-namespace sysctls. Every namespace it creates
// is named from a caller's prefix, the test pid and a sequence number, and
// is removed in t.Cleanup, also when the test fails; nothing touches the
// root namespace's interfaces.
//
// It is imported only from _test.go files.
package netnstest
