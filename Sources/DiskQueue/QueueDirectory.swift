import SystemSupport
import Glibc

/// File-system operations on the queue directory. Stateless; callers own any descriptors.
enum QueueDirectory {
    /// `<directory>/<name>`.
    static func path(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Creates `directory` and any missing parents (mode 0750), syncing each parent that gained an
    /// entry so the new directory survives a crash.
    static func create(_ directory: String) throws(DiskQueueError) {
        guard try !makeDirectory(directory) else { return }
        let parent = parentPath(of: directory)
        guard parent != directory, !directory.isEmpty else {
            throw .system(SystemCallError(call: "mkdir", errno: ENOENT, path: directory))
        }
        try create(parent)
        guard try !makeDirectory(directory) else { return }
        throw .system(SystemCallError(call: "mkdir", errno: ENOENT, path: directory))
    }

    /// One `mkdir`. Returns true when the directory exists afterwards, false when its parent is missing.
    private static func makeDirectory(_ directory: String) throws(DiskQueueError) -> Bool {
        if mkdir(directory, 0o750) == 0 {
            try syncParent(of: directory)
            return true
        }
        let error = SystemCallError.last("mkdir", path: directory)
        switch error.errno {
        case EEXIST:
            var info = stat()
            guard stat(directory, &info) == 0 else { throw .system(.last("stat", path: directory)) }
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw .system(SystemCallError(call: "mkdir", errno: ENOTDIR, path: directory))
            }
            return true
        case ENOENT:
            return false
        default:
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

    private static func parentPath(of directory: String) -> String {
        var trimmed = Substring(directory)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        let parent = trimmed[..<slash]
        return parent.isEmpty ? "/" : String(parent)
    }

    private static func syncParent(of directory: String) throws(DiskQueueError) {
        let parent = try FileDescriptor.openDirectory(parentPath(of: directory))
        defer { parent.close() }
        try parent.synchronize()
    }
}
