import FlyingFox
import FlyingSocks
import Foundation

/// FlyingFox's socket pool with TCP_NODELAY set on every socket it waits for.
///
/// FlyingFox writes a response's header and body separately. With Nagle's algorithm on, the
/// body waits for the client to acknowledge the header, and the client delays that ACK by
/// 40 ms: every response on a kept-alive connection would take 40 ms. Turning Nagle off on the
/// accepted sockets (the pool sees each one before its first read) removes the stall.
struct NoDelaySocketPool: AsyncSocketPool {
    let inner: any AsyncSocketPool

    func prepare() async throws { try await inner.prepare() }

    func run() async throws { try await inner.run() }

    func suspendSocket(_ socket: Socket, untilReadyFor events: Socket.Events) async throws {
        var on: Int32 = 1
        // Failure only means Nagle stays on (e.g. a non-TCP socket): slower, never wrong.
        _ = setsockopt(socket.file.rawValue, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        try await inner.suspendSocket(socket, untilReadyFor: events)
    }
}
