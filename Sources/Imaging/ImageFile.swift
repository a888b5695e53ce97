import Foundation

/// Reads whole image files with POSIX calls so failures carry errno.
enum ImageFile {
    static func read(_ path: String, limit: Int) throws(ImagingError) -> Data {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .unreadableFile(path: path, errno: errno) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw .unreadableFile(path: path, errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw .unreadableFile(path: path, errno: (info.st_mode & S_IFMT) == S_IFDIR ? EISDIR : EINVAL)
        }
        let size = Int(info.st_size)
        guard size <= limit else { throw .fileTooLarge(path: path, bytes: size, limit: limit) }
        var data = Data(count: size)
        var filled = 0
        var failure: Int32 = 0
        data.withUnsafeMutableBytes { buffer in
            while filled < size, let base = buffer.baseAddress {
                let got = Glibc.read(descriptor, base + filled, size - filled)
                if got < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                if got == 0 { break }  // the file shrank while reading
                filled += got
            }
        }
        if failure != 0 { throw .unreadableFile(path: path, errno: failure) }
        return data.prefix(filled)
    }
}
