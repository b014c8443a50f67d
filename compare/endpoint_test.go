package compare

import "testing"

func TestEndpointKey(t *testing.T) {
	cases := map[string]string{
		"GET /users/12":                                  "GET /users/{id}",
		"GET /users/12/orders/7?x=1":                     "GET /users/{id}/orders/{id}",
		"DELETE /s/3f2b9c1a-0d4e-4b8a-9c2e-1a2b3c4d5e6f": "DELETE /s/{id}",
		"GET /blob/deadbeef01":                           "GET /blob/{id}",
		"GET /words/deadbeef":                            "GET /words/deadbeef", // hex letters only: a word
		"GET /v2/items":                                  "GET /v2/items",
		"GET /a1b2":                                      "GET /a1b2", // too short for a hex id
		"GET":                                            "GET",
		"query":                                          "query",
		"POST /":                                         "POST /",
	}
	for in, want := range cases {
		if got := EndpointKey(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}
