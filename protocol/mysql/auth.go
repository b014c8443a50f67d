package mysql

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
)

// Auth plugin names this package can answer.
const (
	pluginNative  = "mysql_native_password"
	pluginSHA2    = "caching_sha2_password"
	pluginEd25519 = "client_ed25519"
)

// Caching_sha2_password AuthMoreData codes.
const (
	sha2FastOK     = 0x03
	sha2FullAuth   = 0x04
	sha2RequestKey = 0x02
	authMoreData   = 0x01
	authSwitchReq  = 0xFE
)

// authResponse computes the auth response of plugin for scramble and
// password.
func authResponse(plugin string, scramble []byte, password string) ([]byte, error) {
	switch plugin {
	case pluginNative:
		return nativePassword(scramble, password), nil
	case pluginSHA2:
		return sha2Password(scramble, password), nil
	case pluginEd25519:
		return ed25519Password(scramble, password), nil
	}
	return nil, &Fate{Code: FateUnknownPlugin, Detail: fmt.Sprintf("plugin %q", plugin)}
}

// nativePassword: SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password))).
// An empty password answers an empty response.
func nativePassword(scramble []byte, password string) []byte {
	if password == "" {
		return nil
	}
	h1 := sha1.Sum([]byte(password))
	h2 := sha1.Sum(h1[:])
	h := sha1.New()
	h.Write(scrambleBytes(scramble, 20))
	h.Write(h2[:])
	h3 := h.Sum(nil)
	for i := range h3 {
		h3[i] ^= h1[i]
	}
	return h3
}

// sha2Password (caching_sha2_password fast path):
// SHA256(password) XOR SHA256(SHA256(SHA256(password)) + scramble).
func sha2Password(scramble []byte, password string) []byte {
	if password == "" {
		return nil
	}
	h1 := sha256.Sum256([]byte(password))
	h2 := sha256.Sum256(h1[:])
	h := sha256.New()
	h.Write(h2[:])
	h.Write(scrambleBytes(scramble, 20))
	h3 := h.Sum(nil)
	for i := range h3 {
		h3[i] ^= h1[i]
	}
	return h3
}

// scrambleBytes is the scramble as the plugins use it: at most n bytes (a
// greeting's part 2 may carry a trailing NUL).
func scrambleBytes(s []byte, n int) []byte {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ed25519Password is MariaDB's client_ed25519: an Ed25519 signature of the
// scramble whose secret is derived from the password of any length the
// way Ed25519 derives it from a 32-byte seed: h = SHA512(password),
// a = clamp(h[:32]), A = aB, r = SHA512(h[32:] || m), R = rB,
// S = r + SHA512(R || A || m)·a. For a 32-byte password this is exactly
// ed25519.NewKeyFromSeed(password).Sign(m).
func ed25519Password(scramble []byte, password string) []byte {
	h := sha512.Sum512([]byte(password))
	a, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		panic(err) // 32 bytes always clamp
	}
	A := new(edwards25519.Point).ScalarBaseMult(a).Bytes()

	d := sha512.New()
	d.Write(h[32:])
	d.Write(scramble)
	r, _ := edwards25519.NewScalar().SetUniformBytes(d.Sum(nil))
	R := new(edwards25519.Point).ScalarBaseMult(r).Bytes()

	d.Reset()
	d.Write(R)
	d.Write(A)
	d.Write(scramble)
	k, _ := edwards25519.NewScalar().SetUniformBytes(d.Sum(nil))
	S := edwards25519.NewScalar().MultiplyAdd(k, a, r)
	return append(R, S.Bytes()...)
}

// ed25519PublicKey is the public key MariaDB stores for password (what
// SELECT ed25519_password(password) returns, before base64).
func ed25519PublicKey(password string) []byte {
	h := sha512.Sum512([]byte(password))
	a, _ := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	return new(edwards25519.Point).ScalarBaseMult(a).Bytes()
}

// sha2FullAuthPayload is the caching_sha2_password full-auth answer over a
// plain connection: RSA-OAEP(SHA1) of (password + NUL) XOR scramble, with
// the server's PEM public key.
func sha2FullAuthPayload(pemKey, scramble []byte, password string) ([]byte, error) {
	blk, _ := pem.Decode(pemKey)
	if blk == nil {
		return nil, errors.New("public key: no PEM block")
	}
	var pub *rsa.PublicKey
	if k, err := x509.ParsePKIXPublicKey(blk.Bytes); err == nil {
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, errors.New("public key: not RSA")
		}
		pub = rk
	} else if rk, err2 := x509.ParsePKCS1PublicKey(blk.Bytes); err2 == nil {
		pub = rk
	} else {
		return nil, fmt.Errorf("public key: %w", err)
	}
	s := scrambleBytes(scramble, 20)
	if len(s) == 0 {
		return nil, errors.New("public key: empty scramble")
	}
	x := append([]byte(password), 0)
	for i := range x {
		x[i] ^= s[i%len(s)]
	}
	return rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, x, nil)
}
