// bench-server-cpp: /bench.Users/GetUserData on gRPC C++ (C-core, callback API), answering the
// same response as the Swift bench-server, as the anchor for Benchmarks/run.py.
// Usage: bench-server-cpp --port N
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "bench.grpc.pb.h"

namespace {

class UsersService final : public bench::Users::CallbackService {
  grpc::ServerUnaryReactor* GetUserData(grpc::CallbackServerContext* context,
                                        const bench::GetUserDataRequest* request,
                                        bench::UserData* response) override {
    response->set_user_id(request->user_id());
    response->set_email("ada.lovelace@example.org");
    response->set_display_name("Ada Lovelace");
    for (const char* role : {"recipient", "subscriber", "beta"}) response->add_roles(role);
    response->set_created_at_unix(1767225600);
    response->set_verified(true);
    response->set_preferences("Europe/London, en-GB, notifications: mail+push");
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

}  // namespace

int main(int argc, char** argv) {
  int port = 50051;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0) port = std::atoi(argv[i + 1]);
  }
  UsersService service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    std::cerr << "bench-server-cpp: could not listen on 127.0.0.1:" << port << std::endl;
    return 1;
  }
  std::cerr << "bench-server-cpp on 127.0.0.1:" << port << std::endl;
  server->Wait();
  return 0;
}
