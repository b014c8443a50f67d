// Package netns runs code and commands inside Linux network namespaces, for
// the namespace lab (package lab) and the root-only tests of the mechanisms
// (absorb, tunnel, gateway, capture, copier, doctor).
//
// Two layers share one implementation:
//
//   - error-returning operations the lab builds on: Open a namespace
//     handle, Do or Go a function on a thread that entered it, Command to
//     run a program in it (ip netns exec), ReadSysctl/WriteSysctl in the
//     current namespace, List, Remove and ProcessAlive for cleanup;
//   - test helpers taking a TB (the part of testing.TB they use; an
//     interface so that the binary, which links the lab for `replaygw
//     demo`, does not link package testing): RequireRoot, Sh, Exec, Add
//     (a namespace removed in t.Cleanup), Veth, NewPair (two namespaces
//     joined by a veth, with routed pools), InNS, Sysctl and SetSysctl.
//
// Every namespace a test creates is named from a caller's prefix, the test
// pid and a sequence number (Unique) and is removed in t.Cleanup, also when
// the test fails; RemoveStale removes those of killed runs. Nothing touches
// the root namespace's interfaces.
//
// Go and namespaces: a goroutine may hop threads, so code runs in a
// namespace on a goroutine locked to its OS thread after setns; that
// goroutine never unlocks and exits locked, so the Go runtime discards the
// thread and no other goroutine inherits the namespace. Sockets keep the
// namespace they were created in and may be used from any goroutine.
package netns
