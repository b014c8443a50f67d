package role

import (
	"net"
	"strings"
	"testing"

	"github.com/replaygw/replaygw/configs"
)

func TestOpenGatewayFailsBeforeTouchingTheKernel(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	// The TUN name is invalid too: if the listen error did not come first,
	// the tunnel error would.
	_, err = OpenGateway(&configs.Gateway{TUN: "this-name-is-far-too-long", Listen: taken.Addr().String(), Secret: "x"}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "gateway.listen") {
		t.Fatalf("%v, want a listen error", err)
	}
}

func TestOpenGatewayRefusesEmptyToken(t *testing.T) {
	_, err := OpenGateway(&configs.Gateway{TUN: "this-name-is-far-too-long", Listen: "127.0.0.1:0"}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "empty token") {
		t.Fatalf("%v, want an empty-token error", err)
	}
}
