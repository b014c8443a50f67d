package mysql

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"testing"
)

// Published vectors: go-sql-driver/mysql's auth tests (password "secret").
func TestAuthPublishedVectors(t *testing.T) {
	tests := []struct {
		plugin   string
		scramble []byte
		want     []byte
	}{
		{pluginNative,
			[]byte{70, 114, 92, 94, 1, 38, 11, 116, 63, 114, 23, 101, 126, 103, 26, 95, 81, 17, 24, 21},
			[]byte{53, 177, 140, 159, 251, 189, 127, 53, 109, 252, 172, 50, 211, 192, 240, 164, 26, 48, 207, 45}},
		{pluginSHA2,
			[]byte{90, 105, 74, 126, 30, 48, 37, 56, 3, 23, 115, 127, 69, 22, 41, 84, 32, 123, 43, 118},
			[]byte{102, 32, 5, 35, 143, 161, 140, 241, 171, 232, 56, 139, 43, 14, 107, 196, 249, 170, 147, 60,
				220, 204, 120, 178, 214, 15, 184, 150, 26, 61, 57, 235}},
		{pluginSHA2,
			[]byte{6, 81, 96, 114, 14, 42, 50, 30, 76, 47, 1, 95, 126, 81, 62, 94, 83, 80, 52, 85},
			[]byte{171, 201, 138, 146, 89, 159, 11, 170, 0, 67, 165, 49, 175, 94, 218, 68, 177, 109, 110, 86,
				34, 33, 44, 190, 67, 240, 70, 110, 40, 139, 124, 41}},
	}
	for _, tt := range tests {
		got, err := authResponse(tt.plugin, tt.scramble, "secret")
		if err != nil || !bytes.Equal(got, tt.want) {
			t.Errorf("%s: got %v %v, want %v", tt.plugin, got, err, tt.want)
		}
	}
}

// The formulas spelled out independently of auth.go.
func TestAuthFormulas(t *testing.T) {
	scramble := []byte("abcdefghijklmnopqrst")
	for _, pw := range []string{"x", "secret", "pässwörd with spaces", string(bytes.Repeat([]byte{'z'}, 100))} {
		// native: SHA1(pw) XOR SHA1(scramble || SHA1(SHA1(pw)))
		a := sha1.Sum([]byte(pw))
		b := sha1.Sum(a[:])
		c := sha1.Sum(append(append([]byte{}, scramble...), b[:]...))
		for i := range c {
			c[i] ^= a[i]
		}
		if got := nativePassword(scramble, pw); !bytes.Equal(got, c[:]) {
			t.Errorf("native %q: %x, want %x", pw, got, c)
		}
		// caching_sha2: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) || scramble)
		x := sha256.Sum256([]byte(pw))
		y := sha256.Sum256(x[:])
		z := sha256.Sum256(append(y[:], scramble...))
		for i := range z {
			z[i] ^= x[i]
		}
		if got := sha2Password(scramble, pw); !bytes.Equal(got, z[:]) {
			t.Errorf("sha2 %q: %x, want %x", pw, got, z)
		}
	}
	if nativePassword(scramble, "") != nil || sha2Password(scramble, "") != nil {
		t.Error("an empty password must answer an empty auth response")
	}
	// A greeting scramble may carry its NUL: only 20 bytes count.
	if !bytes.Equal(nativePassword(append(scramble, 0), "secret"), nativePassword(scramble, "secret")) {
		t.Error("native: trailing NUL of the scramble changed the response")
	}
}

func TestEd25519(t *testing.T) {
	scramble := []byte("0123456789abcdef0123456789abcdef")
	// A 32-byte password is an Ed25519 seed: MariaDB's construction is the
	// standard one.
	seed := []byte("0123456789ABCDEF0123456789ABCDEF")
	want := ed25519.Sign(ed25519.NewKeyFromSeed(seed), scramble)
	if got := ed25519Password(scramble, string(seed)); !bytes.Equal(got, want) {
		t.Fatalf("32-byte password: %x, want %x", got, want)
	}
	// Any length: the signature verifies with the public key derived from
	// SHA512(password), as the server stores it.
	for _, pw := range []string{"", "secret", "a much longer password than thirty-two bytes, really"} {
		sig := ed25519Password(scramble, pw)
		if len(sig) != 64 || !ed25519.Verify(ed25519PublicKey(pw), scramble, sig) {
			t.Errorf("%q: signature does not verify", pw)
		}
		if ed25519.Verify(ed25519PublicKey(pw+"x"), scramble, sig) {
			t.Errorf("%q: verifies under another password's key", pw)
		}
	}
}

func testRSAKey(t testing.TB) (*rsa.PrivateKey, []byte) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// decryptFullAuth is the server's side of the full-auth exchange.
func decryptFullAuth(t testing.TB, k *rsa.PrivateKey, enc, scramble []byte) string {
	t.Helper()
	x, err := rsa.DecryptOAEP(sha1.New(), nil, k, enc, nil)
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	for i := range x {
		x[i] ^= scramble[i%len(scramble)]
	}
	if len(x) == 0 || x[len(x)-1] != 0 {
		t.Fatalf("decrypted password not NUL-terminated: %q", x)
	}
	return string(x[:len(x)-1])
}

func TestSHA2FullAuth(t *testing.T) {
	k, pemKey := testRSAKey(t)
	scramble := []byte("ABCDEFGHIJKLMNOPQRST")
	enc, err := sha2FullAuthPayload(pemKey, scramble, "secret")
	if err != nil {
		t.Fatal(err)
	}
	if got := decryptFullAuth(t, k, enc, scramble); got != "secret" {
		t.Fatalf("decrypted %q", got)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.PublicKey)})
	if _, err := sha2FullAuthPayload(pkcs1, scramble, "secret"); err != nil {
		t.Errorf("PKCS#1 key: %v", err)
	}
	if _, err := sha2FullAuthPayload([]byte("garbage"), scramble, "secret"); err == nil {
		t.Error("garbage key accepted")
	}
}

func ed25519Verify(pub, msg, sig []byte) bool { return ed25519.Verify(pub, msg, sig) }
