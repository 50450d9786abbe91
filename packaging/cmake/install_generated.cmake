# Runs at install time (see packaging/CMakeLists.txt): writes the files that name the install
# prefix. CMAKE_INSTALL_PREFIX is the prefix given to `cmake --install` (or /usr under CPack),
# DESTDIR the staging root, if any.
set(root "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}")
set(REAP_PREFIX "${CMAKE_INSTALL_PREFIX}")
if(IS_ABSOLUTE "${REAP_BINDIR}")
  set(REAP_BIN "${REAP_BINDIR}/reap")
else()
  set(REAP_BIN "${CMAKE_INSTALL_PREFIX}/${REAP_BINDIR}/reap")
endif()

function(reap_generate src dest)
  message(STATUS "Installing: ${root}/${dest}")
  configure_file("${REAP_SOURCE_DIR}/${src}" "${root}/${dest}" @ONLY)
endfunction()

reap_generate(reap.pc.in "${REAP_LIBDIR}/pkgconfig/reap.pc")
foreach(manager system user)
  reap_generate(systemd/reap-sweep.service.${manager}.in
                "lib/systemd/${manager}/reap-sweep.service")
  reap_generate(systemd/reap-sweep.timer.in "lib/systemd/${manager}/reap-sweep.timer")
endforeach()
# For a system manager: one sweep per user that runs leaky workloads (CI runner accounts),
# `systemctl enable --now reap-sweep@gitlab-runner.timer`.
reap_generate(systemd/reap-sweep@.service.in "lib/systemd/system/reap-sweep@.service")
reap_generate(systemd/reap-sweep.timer.in "lib/systemd/system/reap-sweep@.timer")
