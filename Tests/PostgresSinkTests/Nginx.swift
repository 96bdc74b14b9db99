import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Where Debian puts nginx, if it is installed.
let nginxPath = ["/usr/sbin/nginx", "/usr/bin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// nginx as a round-robin balancer in front of the daemons, started from its own directory.
final class Nginx: Sendable {
    let port: UInt16
    private let process: Process

    init(directory: String, upstreams: [UInt16]) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        var lastError = ""
        for _ in 0..<5 {
            let port = { let (fd, port) = loopbackListener(); close(fd); return port }()
            let servers = upstreams.map { "server 127.0.0.1:\($0) max_fails=0;" }.joined(separator: " ")
            try writeFile(directory + "/nginx.conf", """
                worker_processes 1;
                error_log \(directory)/error.log;
                pid \(directory)/nginx.pid;
                events { worker_connections 512; }
                http {
                    access_log off;
                    client_body_buffer_size 1m;
                    client_body_temp_path \(directory)/body;
                    proxy_temp_path \(directory)/proxy;
                    fastcgi_temp_path \(directory)/fastcgi;
                    uwsgi_temp_path \(directory)/uwsgi;
                    scgi_temp_path \(directory)/scgi;
                    upstream daemons { \(servers) keepalive 16; }
                    server {
                        listen 127.0.0.1:\(port);
                        location / {
                            proxy_pass http://daemons;
                            proxy_http_version 1.1;
                            proxy_set_header Connection "";
                            proxy_next_upstream error timeout;
                            proxy_connect_timeout 2s;
                        }
                    }
                }
                """)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: nginxPath!)
            process.arguments = ["-p", directory, "-c", directory + "/nginx.conf", "-g", "daemon off;"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try withProcessSpawnLock { try process.run() }
            if waitUntil(seconds: 30, { (try? RawHTTPClient(port: port)) != nil || !process.isRunning }), process.isRunning {
                self.port = port
                self.process = process
                return
            }
            lastError = (try? String(contentsOfFile: directory + "/error.log", encoding: .utf8)) ?? ""
        }
        throw RawHTTPClient.ClientError(description: "nginx did not start: \(lastError)")
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}
