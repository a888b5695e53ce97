import Bus
import Fetching
import Foundation
import ImageStore
import LabelStore
import Logging
import NIOPosix
import PipelineModel

/// Request and upload size limits of the API.
public struct APILimits: Sendable {
    /// Largest JSON or form body.
    public var maxJSONBytes = 1 << 20
    /// Largest uploaded image (the fetcher's own limit applies too).
    public var maxUploadBytes = 50 << 20
    /// Most URLs in one `POST /v1/images`.
    public var maxURLsPerRequest = 1000

    public init() {}
}

/// Everything the routes use: the stores, the bus, the fetcher, keys, metrics, templates.
public struct APIServices: Sendable {
    public var home: PipelineHome
    public var store: StoreHandle
    public var bus: any BusAdministration
    public var images: any ImageStoring
    public var fetcher: Fetcher
    public var thumbnails: ThumbnailCache
    public var metrics: PipelineMetrics
    public var keyring: APIKeyring
    public var rateLimiter: RateLimiter
    public var limits: APILimits
    public var logger: Logger

    public init(
        home: PipelineHome, bus: any BusAdministration, fetcher: Fetcher, keyring: APIKeyring, limits: APILimits = APILimits(),
        store: StoreHandle? = nil, images: (any ImageStoring)? = nil, logger: Logger
    ) {
        self.home = home
        self.store = store ?? StoreHandle(home: home, logger: logger)
        self.bus = bus
        self.images = images ?? ImageStore(home: home)
        self.fetcher = fetcher
        self.thumbnails = ThumbnailCache(home: home)
        self.metrics = PipelineMetrics(logger: logger)
        self.keyring = keyring
        self.rateLimiter = RateLimiter()
        self.limits = limits
        self.logger = logger
    }

    /// Runs blocking work (SQLite, libvips, file reads) on NIO's thread pool, off the event loops
    /// and the cooperative threads.
    func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }
}
