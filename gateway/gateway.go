package gateway

// DefaultListen is the control channel's address when the config has none.
const DefaultListen = ":36524"
