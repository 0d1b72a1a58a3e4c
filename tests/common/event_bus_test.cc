#include "common/event_bus.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mailtap {
namespace {

class RecordingSink : public EventSink {
 public:
  explicit RecordingSink(std::vector<std::string>* log, std::string tag) : log_(log), tag_(tag) {}
  void OnEvent(const Event& e) override { log_->push_back(tag_ + ":" + std::string(e.name())); }

 private:
  std::vector<std::string>* log_;
  std::string tag_;
};

// Raises a weird the first time it sees smtp_request, like the smtp.log logic does.
class ReentrantSink : public EventSink {
 public:
  explicit ReentrantSink(EventBus* bus) : bus_(bus) {}
  void OnEvent(const Event& e) override {
    if (e.id == EventId::kSmtpRequest) bus_->Publish(MakeWeird(e.ts, e.conn, "w", "", ""));
  }

 private:
  EventBus* bus_;
};

TEST(EventBus, EventsRaisedDuringDispatchFollowTheCurrentEventForEverySink) {
  EventBus bus;
  std::vector<std::string> log;
  ReentrantSink reentrant(&bus);
  RecordingSink first(&log, "a"), second(&log, "b");
  bus.AddSink(&first);
  bus.AddSink(&reentrant);
  bus.AddSink(&second);
  bus.Publish(ev::smtp_request::Make({1}, nullptr));
  EXPECT_EQ(log,
            (std::vector<std::string>{"a:smtp_request", "b:smtp_request", "a:weird", "b:weird"}));
}

class OnlyWeirds : public EventSink {
 public:
  void OnEvent(const Event& /*e*/) override {}
  bool Wants(EventId id) const override { return id == EventId::kWeird; }
};

TEST(EventBus, WantsWhatAnyOfItsSinksWants) {
  EventBus bus;
  EXPECT_FALSE(bus.Wants(EventId::kWeird));
  OnlyWeirds weirds;
  bus.AddSink(&weirds);
  EXPECT_TRUE(bus.Wants(EventId::kWeird));
  EXPECT_FALSE(bus.Wants(EventId::kSmtpData));
  std::vector<std::string> log;
  RecordingSink everything(&log, "a");
  bus.AddSink(&everything);
  EXPECT_TRUE(bus.Wants(EventId::kSmtpData));
}

}  // namespace
}  // namespace mailtap
