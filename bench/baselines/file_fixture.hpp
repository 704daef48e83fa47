// The file BM_file_read and BM_raw_file_read read: 4 MiB of a known pattern in a temporary
// file, read once before measuring so that both read from the page cache.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

namespace corio::bench {

inline constexpr std::size_t file_size = 4u << 20;
inline constexpr std::size_t file_chunk = 64u << 10;
inline constexpr std::int64_t file_chunks = file_size / file_chunk;

// Byte i of the file.
inline unsigned char file_byte(std::size_t i) {
    return static_cast<unsigned char>(i * 7 + 3);
}

class test_file {
public:
    test_file() {
        std::string tmpl = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") +
                           "/corio-bench-file-XXXXXX";
        int fd = ::mkstemp(tmpl.data());
        if (fd < 0)
            throw std::runtime_error("mkstemp failed");
        path_ = tmpl;
        std::vector<char> data(file_size);
        for (std::size_t i = 0; i < file_size; ++i)
            data[i] = static_cast<char>(file_byte(i));
        std::size_t done = 0;
        while (done < file_size) {
            ssize_t n = ::write(fd, data.data() + done, file_size - done);
            if (n <= 0)
                break;
            done += static_cast<std::size_t>(n);
        }
        for (std::size_t off = 0; off < file_size; off += file_chunk)  // into the page cache
            (void)::pread(fd, data.data(), file_chunk, static_cast<off_t>(off));
        ::close(fd);
    }
    ~test_file() { ::unlink(path_.c_str()); }
    test_file(const test_file&) = delete;
    test_file& operator=(const test_file&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// Every read returned a full chunk, and the sampled bytes (the middle of each chunk) are the
// file's.
inline bool file_read_ok(const benchmark::State& state, std::uint64_t bytes, std::uint64_t sum) {
    const auto rounds = static_cast<std::uint64_t>(state.iterations());
    std::uint64_t expected_sum = 0;
    for (std::size_t off = 0; off < file_size; off += file_chunk)
        expected_sum += file_byte(off + file_chunk / 2);
    return bytes == rounds * file_size && sum == rounds * expected_sum;
}

}  // namespace corio::bench
