// thread_pool_executor: workers on a blocking MPMC queue (moodycamel), started on demand.
#include <algorithm>
#include <stdexcept>

#include <corio/executor.hpp>

namespace corio {

std::size_t thread_pool_executor::default_max_workers() noexcept {
    const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
    return std::min<std::size_t>(32, cores + 4);  // Python 3.8+
}

thread_pool_executor::thread_pool_executor(std::size_t max_workers)
    : max_workers_(max_workers == 0
                       ? throw std::invalid_argument("max_workers must be greater than 0")
                       : max_workers) {}

thread_pool_executor::~thread_pool_executor() {
    shutdown(true);
}

std::size_t thread_pool_executor::worker_count() const {
    std::lock_guard lock(mutex_);
    return threads_.size();
}

void thread_pool_executor::post(work_item&& w) {
    std::lock_guard lock(mutex_);
    if (shutdown_)
        throw std::runtime_error("cannot schedule new futures after shutdown");
    if (!queue_.enqueue(std::move(w)))
        throw std::bad_alloc();
    start_worker_if_needed();
}

void thread_pool_executor::start_worker_if_needed() {
    std::size_t idle = idle_.load(std::memory_order_relaxed);
    while (idle > 0) {
        if (idle_.compare_exchange_weak(idle, idle - 1, std::memory_order_relaxed))
            return;
    }
    if (threads_.size() < max_workers_)
        threads_.emplace_back([this] { worker(); });
}

// Exit protocol: shutdown() enqueues one empty item (a sentinel) per worker, under the mutex
// after every real item, so a worker that dequeues a sentinel also sees every item enqueued
// before it; it drains those, puts back the sentinels it met meanwhile (they belong to other
// workers), and exits.
void thread_pool_executor::worker() noexcept {
    work_item w;
    for (;;) {
        idle_.fetch_add(1, std::memory_order_relaxed);
        queue_.wait_dequeue(w);
        if (!w)
            break;
        w.call_once(detail::message_fate::run);
    }
    std::size_t others = 0;
    while (queue_.try_dequeue(w)) {
        if (w) {
            w.call_once(detail::message_fate::run);
        } else {
            ++others;
        }
    }
    for (; others > 0; --others)
        queue_.enqueue(work_item());
}

void thread_pool_executor::shutdown(bool wait, bool cancel_futures) {
    std::vector<std::thread> joining;
    std::vector<work_item> discarded;  // told outside the lock: their callbacks may submit
    {
        std::lock_guard lock(mutex_);
        if (!shutdown_) {
            shutdown_ = true;
            if (cancel_futures) {
                work_item w;
                while (queue_.try_dequeue(w)) {
                    if (w)
                        w.call_once(detail::message_fate::dropped);
                }
            }
            for (std::size_t i = 0; i < threads_.size(); ++i)
                queue_.enqueue(work_item());
        }
        if (wait)
            joining.swap(threads_);
    }
    for (work_item& w : discarded)
        w.call_once(detail::message_fate::dropped);
    for (std::thread& t : joining) {
        if (t.joinable() && t.get_id() != std::this_thread::get_id())
            t.join();
        else if (t.joinable())
            t.detach();
    }
}

}  // namespace corio
