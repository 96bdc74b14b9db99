import SystemSupport
import Glibc

/// File-system operations on the queue directory. Stateless; callers own any descriptors.
enum QueueDirectory {
    /// The mode of the files the queue writes: segments, the consumer position, what salvage
    /// sets aside. Events are the user's data: no one outside the daemon's group reads them,
    /// whatever the umask of whoever started it (a narrower umask narrows a new segment more).
    static let fileMode: mode_t = 0o640

    /// `<directory>/<name>`.
    static func path(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Creates `directory` and any missing parents (mode 0750), syncing each parent that gained an
    /// entry so the new directory survives a crash (`DirectorySync.makeDirectory`).
    static func create(_ directory: String) throws(DiskQueueError) {
        do throws(SystemCallError) {
            try DirectorySync.makeDirectory(at: directory, mode: 0o750)
        } catch {
            throw .system(error)
        }
    }

    /// The segment files in `directory`, in sequence order.
    static func segments(in directory: String) throws(DiskQueueError) -> [SegmentName] {
        try entries(in: directory).compactMap { SegmentName(fileName: $0) }.sorted()
    }

    /// Names of all entries in `directory` except `.` and `..`, in no particular order.
    static func entries(in directory: String) throws(DiskQueueError) -> [String] {
        guard let stream = opendir(directory) else {
            throw .system(.last("opendir", path: directory))
        }
        defer { closedir(stream) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { throw .system(.last("readdir", path: directory)) }
                break
            }
            let name = withUnsafePointer(to: &entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) {
                    String(cString: $0)
                }
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }

    /// Whether anything exists at `path` (a dangling symlink counts).
    static func exists(_ path: String) throws(DiskQueueError) -> Bool {
        var info = stat()
        if lstat(path, &info) == 0 { return true }
        let error = SystemCallError.last("lstat", path: path)
        if error.errno == ENOENT { return false }
        throw .system(error)
    }

    /// `base`, or `base.1`, `base.2` … : the first name in `directory` not taken yet, so setting a
    /// file aside never overwrites one set aside earlier.
    static func unusedName(_ base: String, in directory: String) throws(DiskQueueError) -> String {
        var candidate = base
        var counter = 0
        while try exists(path(directory, candidate)) {
            counter += 1
            candidate = "\(base).\(counter)"
        }
        return candidate
    }

    static func rename(_ from: String, to: String) throws(DiskQueueError) {
        guard Glibc.rename(from, to) == 0 else { throw .system(.last("rename", path: from)) }
    }

    static func remove(_ path: String) throws(DiskQueueError) {
        guard unlink(path) == 0 else { throw .system(.last("unlink", path: path)) }
    }
}
