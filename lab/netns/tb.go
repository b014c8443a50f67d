package netns

// TB is the part of testing.TB the test helpers use.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skip(args ...any)
	Cleanup(func())
}
