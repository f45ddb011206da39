-- The original system's schema (seed-system §6.5, tools/sql/create_table.sql), written from its
-- description: MySQL, InnoDB, utf8, no foreign keys.
DROP TABLE IF EXISTS `once_job`;
CREATE TABLE `once_job` (
  `id` INT NOT NULL AUTO_INCREMENT,
  `job_id` VARCHAR(50) NOT NULL,
  `job_name` VARCHAR(128) NOT NULL,
  `namespace` VARCHAR(128) NOT NULL,
  `image` VARCHAR(200) NOT NULL,
  `command` TEXT NOT NULL,
  `job_exec_time` INT NOT NULL,
  `metadata` TEXT NOT NULL,
  `create_time` INT NOT NULL,
  `update_time` INT NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `job_id` (`job_id`),
  UNIQUE KEY `job_name` (`job_name`)
) ENGINE=InnoDB AUTO_INCREMENT=12 DEFAULT CHARSET=utf8;

DROP TABLE IF EXISTS `cron_job`;
CREATE TABLE `cron_job` (
  `id` INT NOT NULL AUTO_INCREMENT,
  `job_id` VARCHAR(50) NOT NULL,
  `job_name` VARCHAR(128) NOT NULL,
  `schedule` VARCHAR(128) NOT NULL,
  `namespace` VARCHAR(128) NOT NULL,
  `image` VARCHAR(200) NOT NULL,
  `command` TEXT NOT NULL,
  `metadata` TEXT NOT NULL,
  `create_time` INT NOT NULL,
  `update_time` INT NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `job_id` (`job_id`),
  UNIQUE KEY `job_name` (`job_name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

DROP TABLE IF EXISTS `job_status`;
CREATE TABLE `job_status` (
  `id` INT NOT NULL AUTO_INCREMENT,
  `job_id` VARCHAR(128) NOT NULL,
  `job_type` INT NOT NULL DEFAULT 0,
  `job_state` INT NOT NULL DEFAULT 0,
  `job_times` INT NOT NULL DEFAULT 0,
  `job_success_times` INT NOT NULL DEFAULT 0,
  `job_exec_information` TEXT NULL,
  `create_time` INT NOT NULL,
  `update_time` INT NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `job_id` (`job_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

DROP TABLE IF EXISTS `job_logs`;
CREATE TABLE `job_logs` (
  `id` INT NOT NULL AUTO_INCREMENT,
  `job_id` VARCHAR(128) NOT NULL,
  `pod_name` VARCHAR(128) NOT NULL,
  `run_logs` MEDIUMBLOB NOT NULL,
  `create_time` INT NOT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;
