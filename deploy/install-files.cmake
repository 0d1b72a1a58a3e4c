# Runs at install time (install(SCRIPT) from deploy/CMakeLists.txt): CMAKE_INSTALL_PREFIX is the
# prefix in force now, which `cmake --install --prefix` may have changed since configuring.

# GNUInstallDirs' rule for the configuration directory: /etc for the /usr prefix, /etc/opt/...
# for /opt/..., PREFIX/etc otherwise; an absolute setting wins.
function(mailtap_full_dir relative out)
  if(IS_ABSOLUTE "${relative}")
    set(${out} "${relative}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${relative}" PARENT_SCOPE)
  endif()
endfunction()

function(mailtap_sysconfdir out)
  if(IS_ABSOLUTE "${MAILTAP_SYSCONFDIR}")
    set(dir "${MAILTAP_SYSCONFDIR}")
  elseif(CMAKE_INSTALL_PREFIX MATCHES "^/usr/?$")
    set(dir "/${MAILTAP_SYSCONFDIR}")
  elseif(CMAKE_INSTALL_PREFIX MATCHES "^/opt/(.*)")
    set(dir "/${MAILTAP_SYSCONFDIR}/opt/${CMAKE_MATCH_1}")
  else()
    set(dir "${CMAKE_INSTALL_PREFIX}/${MAILTAP_SYSCONFDIR}")
  endif()
  set(${out} "${dir}" PARENT_SCOPE)
endfunction()

mailtap_full_dir("${MAILTAP_SBINDIR}" sbindir)
mailtap_full_dir("${MAILTAP_DOCDIR}" docdir)
mailtap_full_dir("${MAILTAP_SYSTEMD_UNITDIR}" unitdir)
mailtap_full_dir("${MAILTAP_SYSUSERSDIR}" sysusersdir)
mailtap_full_dir("${MAILTAP_TMPFILESDIR}" tmpfilesdir)
mailtap_sysconfdir(sysconfdir)

# The unit as shipped names the /usr layout; point it at this installation's paths.
file(READ "${MAILTAP_DEPLOY_DIR}/systemd/mailtapd.service" unit)
string(REPLACE "/usr/sbin/mailtapd" "${sbindir}/mailtapd" unit "${unit}")
string(REPLACE "/etc/mailtap/" "${sysconfdir}/mailtap/" unit "${unit}")
string(REPLACE "/usr/share/doc/mailtap/" "${docdir}/" unit "${unit}")
file(MAKE_DIRECTORY "${MAILTAP_STAGING_DIR}")
file(WRITE "${MAILTAP_STAGING_DIR}/mailtapd.service" "${unit}")
file(INSTALL "${MAILTAP_STAGING_DIR}/mailtapd.service" DESTINATION "${unitdir}"
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

file(INSTALL "${MAILTAP_DEPLOY_DIR}/systemd/mailtap.sysusers" DESTINATION "${sysusersdir}"
     RENAME mailtap.conf FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(INSTALL "${MAILTAP_DEPLOY_DIR}/systemd/mailtap.tmpfiles" DESTINATION "${tmpfilesdir}"
     RENAME mailtap.conf FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# The example configuration always lands in the docs; it becomes the live configuration only
# where there is none yet, so reinstalling never overwrites an operator's settings.
file(INSTALL "${MAILTAP_DEPLOY_DIR}/mailtapd.conf" DESTINATION "${docdir}/examples"
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(INSTALL "${MAILTAP_DOCS_DIR}/deployment.md" DESTINATION "${docdir}"
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
# Configuration files (the agent's, logrotate's) are the operator's once installed.
function(mailtap_install_config source dir name)
  if(EXISTS "$ENV{DESTDIR}${dir}/${name}")
    message(STATUS "Keeping existing: $ENV{DESTDIR}${dir}/${name}")
  else()
    file(INSTALL "${source}" DESTINATION "${dir}" RENAME "${name}"
         FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()
endfunction()
mailtap_install_config("${MAILTAP_DEPLOY_DIR}/mailtapd.conf" "${sysconfdir}/mailtap" mailtapd.conf)
mailtap_install_config("${MAILTAP_DEPLOY_DIR}/logrotate/mailtap" "${sysconfdir}/logrotate.d" mailtap)
