//go:build !cgo

package privdrop

const builtWithCgo = false
