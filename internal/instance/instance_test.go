package instance

import "testing"

func TestLoopbackTarget(t *testing.T) {
	tests := map[string]struct {
		listen, want string
		wantErr      bool
	}{
		"empty host":     {listen: ":69", want: "127.0.0.1:69"},
		"ipv4 wildcard":  {listen: "0.0.0.0:8080", want: "127.0.0.1:8080"},
		"ipv6 wildcard":  {listen: "[::]:69", want: "127.0.0.1:69"},
		"bound address":  {listen: "10.1.2.3:69", want: "10.1.2.3:69"},
		"no port":        {listen: "10.1.2.3", wantErr: true},
		"empty port":     {listen: "10.1.2.3:", wantErr: true},
		"loopback kept":  {listen: "127.0.0.2:6969", want: "127.0.0.2:6969"},
		"ipv6 loopback":  {listen: "[::1]:69", want: "[::1]:69"},
		"hostname kept":  {listen: "localhost:69", want: "localhost:69"},
		"garbage string": {listen: "::::", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := loopbackTarget(tc.listen)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("loopbackTarget(%q) = %q, %v; want %q, error %v", tc.listen, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
