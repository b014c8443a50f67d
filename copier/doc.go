// Package copier is the online-host role: it takes captured client packets,
// runs a simulated client TCP stack per session against the target, and
// sends the rewritten packets out through a Sender. Response facts come back
// from one or more gateways as wire.Records.
package copier
