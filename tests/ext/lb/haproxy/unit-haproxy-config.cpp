// lb.haproxy's pieces that need no HAProxy: names, the file it owns, the
// user's binds, the master CLI's answers.
#include <interlook/ext/lb/haproxy/check_config.hpp>
#include <interlook/ext/lb/haproxy/config_writer.hpp>
#include <interlook/ext/lb/haproxy/master_cli.hpp>

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

using namespace interlook;
using namespace interlook::ext::lb::haproxy_detail;

TEST_CASE("proxy names: plain names kept, others sanitized with a hash, never shared") {
  CHECK(proxy_name("web") == "interlook-web");
  CHECK(proxy_name("api.v2_x-y") == "interlook-api.v2_x-y");
  auto spaced = proxy_name("my web");
  CHECK(spaced.rfind("interlook-my_web-", 0) == 0);
  CHECK(spaced.size() == std::string("interlook-my_web-").size() + 8);
  CHECK(proxy_name("my_web") != spaced);
  CHECK(proxy_name("my/web") != spaced);  // same sanitized text, other hash
  auto longer = proxy_name(std::string(100, 'a'));
  CHECK(longer.size() == 10 + 48 + 1 + 8);
  CHECK(proxy_name(std::string(100, 'a')) != proxy_name(std::string(101, 'a')));
}

TEST_CASE("target hosts: IP literals and host names, nothing that could inject configuration") {
  CHECK(parse_host("10.0.0.1")->ip);
  CHECK(parse_host("[2001:db8::7]")->v6);
  CHECK(parse_host("[2001:db8::7]")->text == "2001:db8::7");
  CHECK_FALSE(parse_host("node-1.example")->ip);
  CHECK_FALSE(parse_host("a b").has_value());
  CHECK_FALSE(parse_host("x\n    option foo").has_value());
  CHECK_FALSE(parse_host("").has_value());
  CHECK(haproxy_address(*parse_host("2001:db8::7"), 443) == "ipv6@2001:db8::7:443");
  CHECK(haproxy_address(*parse_host("10.0.0.1"), 80) == "10.0.0.1:80");
}

namespace {
service_record record(std::string name, std::string ip, bool tls, std::vector<target> targets) {
  merge_targets(targets);
  return {std::move(name), std::move(ip), tls, std::move(targets)};
}
}  // namespace

TEST_CASE("the file: a frontend and a backend per service, records read back, structure digest") {
  render_options o;
  o.http_port = 8080;
  o.https_port = 8443;
  service_map m;
  m.emplace("web", make_entry(record("web", "10.0.0.5", false, {{"10.0.1.1", 80, 1}, {"10.0.1.2", 80, 3}}), o));
  m.emplace("api", make_entry(record("api", "10.0.0.6", true, {{"node1", 443, 2}, {"10.0.1.3", 443, 900}}), o));
  auto f = render(m, o);
  CHECK(f.text.rfind(std::string(header_first_line), 0) == 0);
  CHECK(f.text.find("frontend interlook-web\n    mode tcp\n    bind 10.0.0.5:8080\n    default_backend interlook-web\n") !=
        std::string::npos);
  CHECK(f.text.find("    server 10.0.1.2:80 10.0.1.2:80 weight 3\n") != std::string::npos);
  CHECK(f.text.find("bind 10.0.0.6:8443") != std::string::npos);        // TLS: httpsPort
  CHECK(f.text.find("weight 256") != std::string::npos);                // HAProxy's maximum
  CHECK(f.text.find("server node1:443 node1:443 weight 2") != std::string::npos);
  // Lines map back to their service ("api" comes first: name order).
  auto web_frontend = f.text.find("frontend interlook-web");
  auto line = static_cast<std::size_t>(std::count(f.text.begin(), f.text.begin() + static_cast<long>(web_frontend), '\n')) + 1;
  REQUIRE(f.service_at(line) != nullptr);
  CHECK(*f.service_at(line) == "web");
  CHECK(f.service_at(1) == nullptr);

  auto back = parse_owned_file(f.text, "x.cfg");
  REQUIRE(back.size() == 2);
  CHECK(back.at("web") == m.at("web").record);
  CHECK(back.at("api") == m.at("api").record);

  // Weights of IP servers are run-time matters; binds and host-name servers are not.
  auto m2 = m;
  m2.at("web") = make_entry(record("web", "10.0.0.5", false, {{"10.0.1.1", 80, 2}, {"10.0.1.9", 80, 1}}), o);
  CHECK(render(m2, o).structure == f.structure);
  m2.at("web") = make_entry(record("web", "10.0.0.7", false, {{"10.0.1.1", 80, 1}}), o);
  CHECK(render(m2, o).structure != f.structure);
  m2 = m;
  m2.at("api") = make_entry(record("api", "10.0.0.6", true, {{"node2", 443, 2}}), o);
  CHECK(render(m2, o).structure != f.structure);
  auto checked = o;
  checked.health_check = true;
  CHECK(render(m, checked).structure != f.structure);
  CHECK(render(m, checked).text.find("weight 3 check\n") != std::string::npos);
  auto http = o;
  http.mode = proxy_mode::http;
  auto h = render({{"web", make_entry(m.at("web").record, http)}, {"api", make_entry(m.at("api").record, http)}}, http);
  CHECK(h.text.find("frontend interlook-web\n    mode http\n") != std::string::npos);
  CHECK(h.text.find("frontend interlook-api\n    mode tcp\n") != std::string::npos);  // TLS passes through
}

TEST_CASE("a file interlook did not write is refused; an empty one is fine") {
  CHECK(parse_owned_file("", "x.cfg").empty());
  CHECK(parse_owned_file("\n  \n", "x.cfg").empty());
  CHECK_THROWS_WITH(parse_owned_file("frontend x\n", "/etc/haproxy/x.cfg"),
                    doctest::Contains("/etc/haproxy/x.cfg exists and was not written by interlook"));
  std::string bad = std::string(header_first_line) + "\n# interlook-service: {\"name\": 3}\n";
  CHECK_THROWS_WITH(parse_owned_file(bad, "x.cfg"), doctest::Contains("x.cfg:2: bad service record"));
}

TEST_CASE("the user's binds: frontends and listens of files and directories, wildcards ignored") {
  const char* base = std::getenv("TEST_TMPDIR");
  auto dir = std::filesystem::path(base ? base : "/tmp") / ("binds-" + std::to_string(std::rand()));
  std::filesystem::create_directories(dir / "conf.d");
  std::ofstream(dir / "main.cfg") << "global\n  maxconn 10\nfrontend web # comment\n  bind 10.0.0.1:80,10.0.0.2:81 ssl\n"
                                     "  bind :8080\n  bind *:8081\nbackend b\n  bind 10.0.0.9:80\n"
                                     "listen stats\n  bind ipv6@2001:db8::1:9000-9010\n  bind [::1]:7000\n";
  std::ofstream(dir / "conf.d" / "a.cfg") << "frontend other\n    bind 10.0.0.3:443\n";
  std::ofstream(dir / "conf.d" / "a.cfg.disabled") << "frontend off\n    bind 10.0.0.4:443\n";
  auto binds = user_binds({(dir / "main.cfg").string(), (dir / "conf.d").string()});
  REQUIRE(binds.size() == 5);
  CHECK(binds[0].address.str() == "10.0.0.1");
  CHECK(binds[0].first_port == 80);
  CHECK(binds[0].proxy == "frontend web");
  CHECK(binds[0].where == (dir / "main.cfg").string() + ":4");
  CHECK(binds[1].address.str() == "10.0.0.2");
  CHECK(binds[2].address.str() == "2001:db8::1");
  CHECK(binds[2].first_port == 9000);
  CHECK(binds[2].last_port == 9010);
  CHECK(binds[2].proxy == "listen stats");
  CHECK(binds[3].address.str() == "::1");
  CHECK(binds[4].proxy == "frontend other");
  CHECK_THROWS_WITH(user_binds({(dir / "missing.cfg").string()}), doctest::Contains("missing.cfg (validateWith)"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("master CLI answers: show proc, show backend, show servers state") {
  auto p = parse_show_proc(
      "#<PID>          <type>          <reloads>       <uptime>        <version>\n"
      "13687           master          2 [failed: 1]   0d00h00m47s     2.6.12\n"
      "# workers\n15281           worker          1               0d00h00m06s     2.6.12\n"
      "# old workers\n13708           worker          [was: 1]    3       0d00h00m40s     2.6.12\n# programs\n\n",
      "/run/m.sock");
  CHECK(p.master_pid == 13687);
  CHECK(p.reloads == 2);
  CHECK(p.failed_reloads == 1);
  CHECK(p.workers == std::vector<long>{15281});
  CHECK(p.old_workers == std::vector<long>{13708});
  CHECK(p.route() == "@!15281");
  CHECK_THROWS_WITH(parse_show_proc("Unknown command.\n", "/run/s.sock"),
                    doctest::Contains("/run/s.sock is not HAProxy's master CLI"));
  // A master without a current worker (all old, or a reload under way) has
  // no route; asking for one is an error, never a read past the list.
  auto none = parse_show_proc("#<PID> <type> <reloads> <uptime> <version>\n1 master 0 0d 2.6\n# workers\n", "/run/m.sock");
  CHECK(none.workers.empty());
  CHECK_THROWS_WITH_AS(none.route(), "show proc lists no current worker", cli_error);

  CHECK(parse_show_backend("# name\nweb\ninterlook-x\n\n") == std::vector<std::string>{"web", "interlook-x"});

  auto s = parse_servers_state(
      "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
      "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
      "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port "
      "srv_check_addr srv_agent_addr srv_agent_port\n"
      "3 interlook-web 1 127.0.0.1:19001 127.0.0.1 2 0 5 1 6 1 0 2 0 0 0 0 - 19001 - 0 0 - - 0\n"
      "3 interlook-web 3 c1 127.0.0.1 0 1 3 3 0 1 0 0 6 0 0 0 - 19005 - 0 0 - - 0\n\n");
  REQUIRE(s.at("interlook-web").size() == 2);
  CHECK(s.at("interlook-web")[0].name == "127.0.0.1:19001");
  CHECK(s.at("interlook-web")[0].weight == 5);
  CHECK(s.at("interlook-web")[0].port == 19001);
  CHECK_FALSE(s.at("interlook-web")[0].in_maintenance());
  CHECK(s.at("interlook-web")[1].in_maintenance());
}

TEST_CASE("a master socket that is not there is an error naming it") {
  master_cli cli("/nonexistent/interlook-test.sock", std::chrono::seconds(1));
  CHECK_THROWS_WITH(cli.run("show proc"),
                    doctest::Contains("master socket /nonexistent/interlook-test.sock: connect: No such file"));
}

TEST_CASE("HAProxy's complaints, without their prefixes; the lines they name") {
  std::string out =
      "[NOTICE]   (18163) : haproxy version is 2.6.12\n"
      "[ALERT]    (18163) : config : Parsing [/d/il.cfg.tmp:5]: backend 'x' has the same name as backend 'x' "
      "declared at /d/main.cfg:11.\n"
      "[ALERT]    (18163) : config : Error(s) found in configuration file : /d/il.cfg.tmp\n"
      "[ALERT]    (18163) : config : Fatal errors found in configuration.\n";
  CHECK(alert_summary(out) ==
        "config : Parsing [/d/il.cfg.tmp:5]: backend 'x' has the same name as backend 'x' declared at /d/main.cfg:11.");
  CHECK(lines_named(out, "/d/il.cfg.tmp") == std::set<std::size_t>{5});
  CHECK(lines_named(out, "/d/main.cfg").empty());  // named, but not as "[file:line]"
  CHECK(alert_summary("plain failure\n") == "plain failure\n");
}
