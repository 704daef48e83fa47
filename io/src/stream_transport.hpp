// The state one connected socket shares between its stream_reader and stream_writer: the
// read buffer and EOF/error, the write buffers and the one send in flight, and closing. A
// transport may also carry one end of a pipe (a subprocess's stdin, stdout or stderr): it
// then reads and writes with read(2)/write(2) (pipe_ops.hpp), and write_eof() closes the pipe,
// as asyncio's pipe transports do.
// asyncio splits this between _SelectorSocketTransport and StreamReaderProtocol; here the
// reader pulls (a read starts a recv op) and the writer pushes (write starts a send op that
// keeps sending until the buffers are empty). Used only on its loop's thread.
//
// Reading has two forms, chosen when the transport is built:
// - one recv (or read) op per read, in the reading coroutine's frame (read_op_): epoll, pipes,
//   and rings without multishot receives;
// - on io_uring with caps().multishot_recv, one multishot recv (multishot_), armed by the first
//   read that finds too little buffered, kept armed while the stream is read, its parts copied
//   into rbuf_ as the loop reaps them. A reader then waits for a part (reader_), not for an op.
//   As asyncio's StreamReader pauses its transport, the recv is cancelled once more than twice
//   the limit is buffered, and armed again when a reader needs more.
//
// Invariants:
// - at most one recv op (read_op_ or multishot_) and one send op (send_op_, a member) are in
//   flight; while the send op is, self_ keeps this alive, so a stream whose handles are all
//   gone still finishes sending, then closes the socket; an armed multishot_ does not keep
//   this alive: the destructor hands it the descriptor, and it closes it once the kernel has
//   ended it (stream_multishot_recv::orphan);
// - the socket is closed (fd_ = -1) only when no op is in flight: the kernel never sees a
//   descriptor number that may already belong to someone else;
// - sending_[sent_..] is what the send op works on; pending_ is what write() added since.
#pragma once

#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <corio/detail/op_awaiter.hpp>
#include <corio/detail/pipe_ops.hpp>
#include <corio/detail/socket_ops.hpp>
#include <corio/futures.hpp>
#include <corio/sockets.hpp>
#include <corio/streams.hpp>

#include "owned_multishot_op.hpp"

namespace corio::detail {

// A byte buffer consumed from the front and filled at the back (no zero-filling on growth).
class byte_buffer {
public:
    std::size_t size() const noexcept { return end_ - begin_; }
    bool empty() const noexcept { return end_ == begin_; }
    const char* data() const noexcept { return data_.get() + begin_; }
    // Room for `n` more bytes at the back; valid until the next call that changes the buffer.
    char* prepare(std::size_t n);
    void commit(std::size_t n) noexcept { end_ += n; }
    void consume(std::size_t n) noexcept;
    void clear() noexcept { begin_ = end_ = 0; }

private:
    std::unique_ptr<char[]> data_;
    std::size_t capacity_ = 0;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

// recv(2) on a socket, read(2) on a pipe: the transport's read, chosen when it is built.
class stream_recv_op : public recv_op {
public:
    stream_recv_op(int fd, void* buf, std::size_t len, bool pipe) noexcept
        : recv_op(fd, buf, len), pipe_(pipe) {}
    void prep(io_uring_sqe& sqe) noexcept override {
        if (pipe_) {
            prep_pipe_read(sqe, fd_, buf_, len_);
        } else {
            recv_op::prep(sqe);
        }
    }
    attempt try_now() noexcept override {
        return pipe_ ? try_pipe_read(result, fd_, buf_, len_) : recv_op::try_now();
    }

private:
    bool pipe_;
};

class stream_transport;
class wait_for_part;

// The transport's multishot recv. Apart from the transport (allocated once per stream), so
// that it can outlive it: the kernel may hold it after the last handle is gone.
class stream_multishot_recv final : public owned_multishot_op {
public:
    stream_multishot_recv(stream_transport& t, int fd) noexcept
        : owned_multishot_op(fd, /*selects_buffer=*/true), t_(t) {}

    void prep(io_uring_sqe& sqe) noexcept override;
    void part(int n, const char* data, completion_sink& done) override;

private:
    void ended(int result) noexcept override;
    void orphan_ended(int result) noexcept override;

    stream_transport& t_;  // not to be used once orphaned
};

class stream_transport : public std::enable_shared_from_this<stream_transport> {
public:
    // `pipe`: `sock` holds one end of a pipe rather than a connected socket.
    stream_transport(event_loop& loop, socket sock, std::size_t limit, bool pipe = false);
    ~stream_transport();
    stream_transport(const stream_transport&) = delete;
    stream_transport& operator=(const stream_transport&) = delete;

    // -- Reading (stream_reader) -------------------------------------------------------
    // Throws if another coroutine is reading, or the stored read error.
    void check_readable(const char* what) const;
    // The multishot form of reading (above) is in use.
    bool multishot() const noexcept { return multishot_ != nullptr; }
    // True when a read must wait for data: nothing buffered beyond `have`, no EOF, no error.
    bool can_receive() const noexcept { return !eof_ && !closing_ && !read_error_; }
    void on_received(int result);  // a recv op's result: bytes, 0 (EOF) or -errno
    // Read this many bytes at most per recv.
    static constexpr std::size_t recv_chunk = 64 * 1024;

    // -- Writing (stream_writer) -------------------------------------------------------
    void write(std::string_view data);
    void write_eof();
    task<void> drain();
    void close();
    void abort();
    task<void> wait_closed();
    std::size_t buffered() const noexcept { return sending_.size() - sent_ + pending_.size(); }
    void set_limits(std::size_t high, std::size_t low) noexcept;

    event_loop& loop_;
    int fd_;
    const bool pipe_;
    std::size_t limit_;
    byte_buffer rbuf_;
    bool eof_ = false;
    std::exception_ptr read_error_;
    io_op* read_op_ = nullptr;         // the recv in flight, for close() to cancel
    wait_for_part* reader_ = nullptr;  // multishot: the reader waiting for a part
    bool closing_ = false;
    socket_address peername_;
    socket_address sockname_;

    void maybe_finish_close() noexcept;

    // -- The multishot form -----------------------------------------------------------------
    // Arms the recv unless it is in flight; throws what the backend's start() throws.
    void start_receiving();
    void on_part(const char* data, std::size_t n, completion_sink& done);
    void on_receive_ended(int result) noexcept;

private:
    class flush_op final : public send_op {
    public:
        flush_op(stream_transport& t, int fd) noexcept : send_op(fd, nullptr, 0), t_(t) {}
        void prep(io_uring_sqe& sqe) noexcept override {
            if (t_.pipe_) {
                prep_pipe_write(sqe, fd_, buf_, len_);
            } else {
                send_op::prep(sqe);
            }
        }
        attempt try_now() noexcept override {
            return t_.pipe_ ? try_pipe_write(result, fd_, buf_, len_) : send_op::try_now();
        }
        void complete() noexcept override { t_.on_sent(); }

    private:
        stream_transport& t_;
    };

    void start_send() noexcept;
    void on_sent() noexcept;
    void fail_writes(std::exception_ptr error) noexcept;
    void wake(std::vector<future<void>>& waiters) noexcept;
    void shutdown_write() noexcept;

    void wake_reader() noexcept;
    void cancel_reading() noexcept;
    bool receiving() const noexcept { return multishot_ != nullptr && multishot_->in_flight; }

    flush_op send_op_;
    std::shared_ptr<stream_transport> self_;      // set while send_op_ is in flight
    stream_multishot_recv* multishot_ = nullptr;  // owned, unless orphaned by the destructor
    bool sending_now_ = false;
    std::string sending_;
    std::size_t sent_ = 0;
    std::string pending_;
    bool eof_requested_ = false;
    bool eof_sent_ = false;
    bool paused_ = false;  // above high_ since; drain() waits until at or below low_
    std::size_t high_ = 64 * 1024;
    std::size_t low_ = 16 * 1024;
    std::exception_ptr write_error_;
    std::vector<future<void>> drain_waiters_;
    std::vector<future<void>> close_waiters_;
};

// The multishot form's wait: until the transport stores a part, or the recv ends. Cancelling
// it takes nothing from the stream: the recv stays armed, and what arrives stays buffered.
class wait_for_part final : public task_waiter {
public:
    explicit wait_for_part(stream_transport& t) noexcept : t_(t) {}
    // A reading task destroyed while it waits (loop.close()) leaves no reader behind.
    ~wait_for_part() {
        if (t_.reader_ == this)
            t_.reader_ = nullptr;
    }
    wait_for_part(const wait_for_part&) = delete;
    wait_for_part& operator=(const wait_for_part&) = delete;

    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        task_ = &awaiting_task(h);
        handle_ = h;
        task_->throw_if_cancel_requested();
        t_.start_receiving();  // throws before anything waits
        t_.reader_ = this;
        task_->suspended_on(this);
        loop_access::set_current_task(task_->loop(), nullptr);
    }
    void await_resume() {
        task_->resume_as_current();
        task_->throw_if_cancel_requested();
        if (t_.read_error_)
            std::rethrow_exception(t_.read_error_);
    }

    // The transport's wake-up: from a part (through the reaping loop's sink) or the recv's end.
    std::coroutine_handle<> take() noexcept {
        t_.reader_ = nullptr;
        task_->suspended_on(nullptr);  // a cancel() from now on is thrown when it resumes
        return handle_;
    }

    bool cancel_wait(const std::string&) override {
        loop_access::push_ready(task_->loop(), ready_entry::of(take()));
        return false;  // the resumption throws the cancellation
    }

private:
    stream_transport& t_;
    task_base* task_ = nullptr;
    std::coroutine_handle<> handle_;
};

// Receives into the transport's buffer. In the per-read form: one recv op, registered in
// read_op_ while in flight, whose result the transport takes before the reading coroutine
// continues. In the multishot form: wait_for_part. Built in place in the reading coroutine's
// frame (co_await recv_more(t)).
class recv_more {
public:
    explicit recv_more(stream_transport& t)
        : t_(t),
          op_(t.fd_, t.multishot() ? nullptr : t.rbuf_.prepare(stream_transport::recv_chunk),
              stream_transport::recv_chunk, t.pipe_),
          part_(t) {
        op_.forget_on_close = true;  // the transport forgets its descriptor before closing it
    }
    bool await_ready() const noexcept { return false; }
    template <class P>
    void await_suspend(std::coroutine_handle<P> h) {
        if (t_.multishot()) {
            part_.await_suspend(h);
            return;
        }
        op_.await_suspend(h);
        t_.read_op_ = &op_;
    }
    void await_resume() {
        if (t_.multishot()) {
            part_.await_resume();
            return;
        }
        t_.read_op_ = nullptr;
        if (op_.result == -ECANCELED)
            t_.maybe_finish_close();  // close() may wait for us
        int r = op_.await_resume();   // throws cancelled_error if the op was cancelled by one
        t_.on_received(r);
    }

private:
    stream_transport& t_;
    op_awaiter<raw_result<stream_recv_op>> op_;
    wait_for_part part_;
};

}  // namespace corio::detail
