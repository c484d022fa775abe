# Runs one layering probe: `cmake --build BUILD_DIR --target TARGET` (see tests/CMakeLists.txt).
# EXPECT=fail passes only when the build fails because HEADER (which must exist under
# SOURCE_DIR/src, so a renamed header cannot make the probe pass vacuously) is not found;
# EXPECT=build passes only when the build succeeds.
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(EXPECT STREQUAL "build")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${TARGET} should build but did not (exit ${rc}):\n${out}")
  endif()
  message(STATUS "${TARGET} builds, as it should")
  return()
endif()
if(NOT EXISTS ${SOURCE_DIR}/src/${HEADER})
  message(FATAL_ERROR "probe ${TARGET} includes ${HEADER}, which no longer exists: point it at "
                      "a header of that layer")
endif()
if(rc EQUAL 0)
  message(FATAL_ERROR "${TARGET} built, but its include of ${HEADER} points up the stack and "
                      "must not compile:\n${out}")
endif()
string(REGEX REPLACE "([.+])" "\\\\\\1" header_re "${HEADER}")
if(NOT out MATCHES "${header_re}(: No such file or directory|' file not found)")
  message(FATAL_ERROR "${TARGET} failed, but not because ${HEADER} is missing from its view:\n"
                      "${out}")
endif()
message(STATUS "${TARGET} fails to build (${HEADER} not found), as it should")
