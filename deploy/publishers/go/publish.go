// Publishes one event to an sse-relay client over the relay's Unix socket, with net/http.
//
//	go run publish.go SOCKET CLIENT_ID DATA [EVENT_NAME]
//	go run publish.go /run/sse-relay/publish.sock 42 'hello'
//
// Prints the relay's JSON delivery report; exits 1 on an error status (e.g. 404
// client_not_connected: the report still says the event was kept for replay), 2 on usage
// or connection errors. In an application keep one http.Client (its Transport keeps the
// Unix connections alive between publishes).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

// newClient returns an http.Client whose every connection goes to the Unix socket.
func newClient(socketPath string) *http.Client {
	var dialer net.Dialer
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, "unix", socketPath)
			},
			MaxIdleConnsPerHost: 4,
		},
	}
}

func main() {
	if len(os.Args) < 4 || len(os.Args) > 5 {
		fmt.Fprintf(os.Stderr, "usage: %s SOCKET CLIENT_ID DATA [EVENT_NAME]\n", os.Args[0])
		os.Exit(2)
	}
	socketPath, clientID, data := os.Args[1], os.Args[2], os.Args[3]

	event := map[string]string{"data": data}
	if len(os.Args) == 5 {
		event["event"] = os.Args[4]
	}
	body, err := json.Marshal(event)
	if err != nil {
		fmt.Fprintln(os.Stderr, "publish:", err)
		os.Exit(2)
	}

	// The host name only fills the Host header: the dialer ignores it.
	target := "http://localhost/v1/clients/" + url.PathEscape(clientID) + "/events"
	response, err := newClient(socketPath).Post(target, "application/json", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintf(os.Stderr, "publish: cannot reach %s: %v\n", socketPath, err)
		os.Exit(2)
	}
	defer response.Body.Close()
	report, err := io.ReadAll(response.Body)
	if err != nil {
		fmt.Fprintln(os.Stderr, "publish: reading the answer:", err)
		os.Exit(2)
	}
	fmt.Println(string(bytes.TrimRight(report, "\n")))
	if response.StatusCode >= 400 {
		fmt.Fprintf(os.Stderr, "publish: HTTP %d\n", response.StatusCode)
		os.Exit(1)
	}
}
