import Glibc

/// Writes all of `bytes` to `fd`, going on after short writes and EINTR. Nil when every byte
/// went; otherwise the errno of the write that failed (EIO for one that wrote nothing).
package func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32? {
    var offset = 0
    while offset < bytes.count {
        let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n > 0 {
            offset += n
        } else if n < 0 && errno == EINTR {
            continue
        } else {
            return n < 0 ? errno : EIO
        }
    }
    return nil
}
