// Publishes one event to an sse-relay client over the relay's Unix socket (JDK 16+:
// UnixDomainSocketAddress and SocketChannel; java.net.http has no Unix-socket transport,
// so the HTTP/1.1 request is written by hand).
//
//   java Publish.java SOCKET CLIENT_ID DATA [EVENT_NAME]
//   java Publish.java /run/sse-relay/publish.sock 42 'hello'
//
// Prints the relay's JSON delivery report; exits 1 on an error status (e.g. 404
// client_not_connected: the report still says the event was kept for replay), 2 on usage
// or connection errors. An application would keep the connection open and send one request
// after another (the relay keeps publish connections alive); this example sends
// "Connection: close" to stay short.

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.StandardProtocolFamily;
import java.net.URLEncoder;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Locale;

public final class Publish {
    public static void main(String[] args) {
        if (args.length < 3 || args.length > 4) {
            System.err.println("usage: java Publish.java SOCKET CLIENT_ID DATA [EVENT_NAME]");
            System.exit(2);
        }
        Response response;
        try {
            response = publish(Path.of(args[0]), args[1], args[2], args.length == 4 ? args[3] : null);
        } catch (IOException e) {
            System.err.println("publish: cannot reach " + args[0] + ": " + e.getMessage());
            System.exit(2);
            return;
        }
        System.out.println(response.body.strip());
        if (response.status >= 400) {
            System.err.println("publish: HTTP " + response.status);
            System.exit(1);
        }
    }

    record Response(int status, String body) {}

    static Response publish(Path socket, String clientId, String data, String event) throws IOException {
        String json = "{\"data\":" + jsonString(data) + (event == null ? "" : ",\"event\":" + jsonString(event)) + "}";
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        String path = "/v1/clients/" + URLEncoder.encode(clientId, StandardCharsets.UTF_8).replace("+", "%20") + "/events";
        String head = "POST " + path + " HTTP/1.1\r\n"
                + "Host: localhost\r\n"
                + "Content-Type: application/json\r\n"
                + "Content-Length: " + body.length + "\r\n"
                + "Connection: close\r\n"
                + "\r\n";

        try (SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            channel.connect(UnixDomainSocketAddress.of(socket));
            ByteBuffer request = ByteBuffer.allocate(head.length() + body.length);
            request.put(head.getBytes(StandardCharsets.US_ASCII)).put(body).flip();
            while (request.hasRemaining()) {
                channel.write(request);
            }
            return readResponse(Channels.newInputStream(channel));
        }
    }

    /** Reads one HTTP/1.1 response: status line, headers, then a Content-Length or chunked body. */
    static Response readResponse(InputStream in) throws IOException {
        String statusLine = readLine(in);
        String[] parts = statusLine.split(" ", 3);
        if (parts.length < 2 || !parts[0].startsWith("HTTP/1.")) {
            throw new IOException("not an HTTP response: " + statusLine);
        }
        int status = Integer.parseInt(parts[1]);
        long contentLength = -1;
        boolean chunked = false;
        for (String line = readLine(in); !line.isEmpty(); line = readLine(in)) {
            int colon = line.indexOf(':');
            if (colon < 0) continue;
            String name = line.substring(0, colon).trim().toLowerCase(Locale.ROOT);
            String value = line.substring(colon + 1).trim();
            if (name.equals("content-length")) contentLength = Long.parseLong(value);
            if (name.equals("transfer-encoding") && value.toLowerCase(Locale.ROOT).contains("chunked")) chunked = true;
        }
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        if (chunked) {
            for (int size; (size = Integer.parseInt(readLine(in).split(";")[0].trim(), 16)) > 0; readLine(in)) {
                body.write(in.readNBytes(size));
            }
        } else if (contentLength >= 0) {
            body.write(in.readNBytes((int) contentLength));
        } else {
            in.transferTo(body);  // Connection: close delimits the body
        }
        return new Response(status, body.toString(StandardCharsets.UTF_8));
    }

    static String readLine(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        for (int b; (b = in.read()) != '\n'; ) {
            if (b < 0) throw new IOException("connection closed in the middle of the response");
            if (b != '\r') line.write(b);
        }
        return line.toString(StandardCharsets.ISO_8859_1);
    }

    /** A JSON string literal: quotes, backslashes and control characters escaped. */
    static String jsonString(String text) {
        StringBuilder out = new StringBuilder("\"");
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
                    else out.append(c);
                }
            }
        }
        return out.append('"').toString();
    }
}
