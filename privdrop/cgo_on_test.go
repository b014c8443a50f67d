//go:build cgo

package privdrop

const builtWithCgo = true
